//! Which failures of Modal are worth trying again: the one classifier every caller uses.
//!
//! The Modal client retries `UNAVAILABLE`, `INTERNAL`, `DEADLINE_EXCEEDED`, `CANCELLED` and `UNKNOWN` three
//! times itself (from 1.2 on for most calls; 1.0 and 1.1 retry only some). What reaches modalplan is what is
//! left after that: a fourth failure in a row, a rate limit (`RESOURCE_EXHAUSTED`, which the client never
//! retries), a dropped stream, an app locked by a concurrent modification. How it reaches modalplan
//! depends on the CLI version: 1.0–1.2 title their error box with the status (`Error: Unavailable`),
//! 1.3–1.5 print a plain `Error` box, 1.6 an `Error:` line with the message only; the helpers
//! (`helper/sdk.py`) put the status name in front of the message (`UNAVAILABLE: ...`).
//! A message alone says nothing of its status on 1.3–1.6, so only the phrases below count there.

/// The statuses modalplan retries, as their names and as the 1.0–1.2 CLIs title their error box.
const STATUSES: [(&str, &str); 6] = [
    ("UNAVAILABLE", "Unavailable"),
    ("INTERNAL", "Internal"),
    ("DEADLINE_EXCEEDED", "Deadline exceeded"),
    ("CANCELLED", "Cancelled"),
    ("UNKNOWN", "Unknown"),
    ("RESOURCE_EXHAUSTED", "Resource exhausted"),
];

/// Messages that mean "try again" whatever status carried them (lowercase).
const PHRASES: [(&str, &str); 8] = [
    ("stream reset by remote party", "the connection was reset"),
    ("connection lost", "the connection was lost"),
    ("connection reset by peer", "the connection was reset"),
    ("streamterminatederror", "the connection was reset"),
    (
        "the selected app is locked",
        "the app is locked by a concurrent modification",
    ),
    ("rate limit", "rate limited"),
    ("too many requests", "rate limited"),
    ("deadline exceeded", "DEADLINE_EXCEEDED"),
];

/// Why the failure a Modal call printed is transient (the status or what the message says), or `None`
/// when trying again would fail the same way. `output` is what the CLI or a helper printed, as printed.
pub fn transient_reason(output: &str) -> Option<&'static str> {
    for line in output.lines() {
        let line = line.trim();
        // A 1.0–1.2 error box: `╭─ Error: Unavailable ───╮`.
        if let Some(title) = line.strip_prefix("╭─ Error: ") {
            let title = title.trim_end_matches(['─', '╮', ' ']);
            if let Some((status, _)) = STATUSES.iter().find(|(_, shown)| *shown == title) {
                return Some(status);
            }
        }
        // A helper's `STATUS: message`, or a client exception's repr (`<Status.UNAVAILABLE: 14>`).
        for (status, _) in STATUSES {
            if line.starts_with(&format!("{status}: "))
                || line.contains(&format!("Status.{status}"))
            {
                return Some(status);
            }
        }
    }
    let lower = output.to_lowercase();
    PHRASES
        .iter()
        .find(|(phrase, _)| lower.contains(phrase))
        .map(|(_, reason)| *reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the real CLIs printed on standard error against the emulator (`COLUMNS=200`, boxes cut to
    /// their first characters), and what the helpers print.
    const CASES: [(&str, &str, Option<&str>); 16] = [
        (
            "1.0.0-1.2.6 app list, UNAVAILABLE after the client's retries",
            "╭─ Error: Unavailable ──────────────────────╮\n│ injected fault on AppList                  │\n╰────────────────────────────────────────────╯\n",
            Some("UNAVAILABLE"),
        ),
        (
            "1.0.0-1.2.6 app list, RESOURCE_EXHAUSTED",
            "╭─ Error: Resource exhausted ───────────────╮\n│ rate limit exceeded                        │\n╰────────────────────────────────────────────╯\n",
            Some("RESOURCE_EXHAUSTED"),
        ),
        (
            "1.3.5-1.5.5 app list, UNAVAILABLE: the box has no status, the message says nothing",
            "╭─ Error ───────────────────────────────────╮\n│ injected fault on AppList                  │\n╰────────────────────────────────────────────╯\n",
            None,
        ),
        (
            "1.3.5-1.5.5 app list, RESOURCE_EXHAUSTED with Modal's wording",
            "╭─ Error ───────────────────────────────────╮\n│ rate limit exceeded                        │\n╰────────────────────────────────────────────╯\n",
            Some("rate limited"),
        ),
        (
            "1.6.4 app list, UNAVAILABLE: the message alone",
            "Error: injected fault on AppList\n",
            None,
        ),
        (
            "1.6.4 app list, RESOURCE_EXHAUSTED",
            "Error: rate limit exceeded\n",
            Some("rate limited"),
        ),
        (
            "every version, a dropped stream (1.0.0 box)",
            "╭─ Error ───────────────────────────────────╮\n│ Stream reset by remote party, error_code: 0 │\n╰────────────────────────────────────────────╯\n",
            Some("the connection was reset"),
        ),
        (
            "1.6.4, a dropped stream",
            "Error: Stream reset by remote party, error_code: 0\n",
            Some("the connection was reset"),
        ),
        (
            "1.0.0-1.2.6 app rollback, the app locked (FAILED_PRECONDITION)",
            "╭─ Error: Failed precondition ──────────────╮\n│ the selected app is locked - probably due to a concurrent modification │\n╰────╯\n",
            Some("the app is locked by a concurrent modification"),
        ),
        (
            "1.6.4 app rollback, the app locked",
            "Error: the selected app is locked - probably due to a concurrent modification\n",
            Some("the app is locked by a concurrent modification"),
        ),
        (
            "observe helper, UNAVAILABLE after the client's retries",
            "UNAVAILABLE: injected fault on AppList",
            Some("UNAVAILABLE"),
        ),
        (
            "call helper, 1.3+ (the status of a ResourceExhaustedError)",
            "RESOURCE_EXHAUSTED: ResourceExhaustedError: rate limit exceeded",
            Some("RESOURCE_EXHAUSTED"),
        ),
        (
            "call helper, 1.0-1.2 (a GRPCError's repr)",
            "GRPCError: (<Status.INTERNAL: 13>, 'injected fault on FunctionMap', None)",
            Some("INTERNAL"),
        ),
        (
            "1.0.0 not found: permanent",
            "╭─ Error: Not found ─────────────────────────╮\n│ Environment 'qa' not found                 │\n╰────────────────────────────────────────────╯\n",
            None,
        ),
        (
            "1.6.4 a missing secret at deploy: permanent",
            "Error: Secret 'OPENAI_API_KEY' not found in environment 'main'\n",
            None,
        ),
        (
            "observe helper, PERMISSION_DENIED: permanent",
            "PERMISSION_DENIED: no access",
            None,
        ),
    ];

    #[test]
    fn each_clis_output_is_classified() {
        for (case, output, expected) in CASES {
            assert_eq!(transient_reason(output), expected, "{case}");
        }
    }

    #[test]
    fn a_status_word_inside_a_message_is_not_a_status() {
        assert_eq!(
            transient_reason("Error: Unknown app 'x'; INTERNAL tools"),
            None
        );
        assert_eq!(
            transient_reason("╭─ Error: Unknown ─╮\n│ boom │"),
            Some("UNKNOWN")
        );
    }
}
