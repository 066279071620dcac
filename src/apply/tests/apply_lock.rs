//! The apply lock around an apply: taken, waited for, released on every path.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::apply::lock::{LockedError, ReleaseProblem, holder_from, under_lock};
use crate::backend::BackendError;
use crate::backend::fake::FakeBackend;
use crate::backend::lock::{ApplyLocks, ForceUnlock, LockHolder, LockRecord, LockRequest};

fn other_run() -> LockRecord {
    LockRecord {
        id: "lk-other".into(),
        who: "alice@laptop".into(),
        operation: "apply".into(),
        manifest: "processors.toml".into(),
        created_at: "2026-01-01T10:00:00Z".into(),
        heartbeat_at: Some("2026-01-01T10:05:00Z".into()),
    }
}

fn request(wait: Duration, notices: &Arc<Mutex<Vec<String>>>) -> LockRequest {
    let notices = Arc::clone(notices);
    LockRequest {
        environments: vec!["main".into(), "dev".into()],
        holder: LockHolder {
            who: "ci@runner".into(),
            operation: "apply".into(),
            manifest: "processors.toml".into(),
        },
        wait,
        on_wait: Arc::new(move |environment: &str, lock: &LockRecord| {
            notices
                .lock()
                .unwrap()
                .push(format!("{environment}: {} {}", lock.who, lock.id));
        }),
    }
}

#[tokio::test]
async fn a_lock_held_by_another_run_refuses_the_apply_before_its_body() {
    let backend = FakeBackend::new();
    backend.hold_lock("main", other_run());
    let notices = Arc::new(Mutex::new(Vec::new()));
    let prepared = AtomicUsize::new(0);
    let ran = AtomicUsize::new(0);
    let locked = under_lock(
        Some((
            &backend as &dyn ApplyLocks,
            &request(Duration::ZERO, &notices),
        )),
        || async {
            prepared.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>("plan")
        },
        |_plan| async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(())
        },
    )
    .await;
    match locked.result {
        Err(LockedError::Held { environment, lock }) => {
            assert_eq!(environment, "main");
            assert_eq!(lock, other_run());
        }
        other => panic!("expected a held lock, got {other:?}"),
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(prepared.load(Ordering::SeqCst), 1);
    assert!(notices.lock().unwrap().is_empty());
    // All or none: `dev` (free, and first in sorted order) was not kept.
    assert_eq!(backend.lock_of("dev"), None);
    assert_eq!(backend.lock_of("main"), Some(other_run()));
    assert_eq!(backend.call_log(), ["lock dev,main"]);
}

#[tokio::test]
async fn a_waited_for_lock_makes_the_plan_again_then_runs_and_releases() {
    let backend = FakeBackend::new();
    backend.hold_lock("main", other_run());
    let releaser = backend.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        releaser.drop_lock("main");
    });
    let notices = Arc::new(Mutex::new(Vec::new()));
    let prepared = AtomicUsize::new(0);
    let seen_in_body = Arc::new(Mutex::new(None));
    let locked = under_lock(
        Some((
            &backend as &dyn ApplyLocks,
            &request(Duration::from_secs(10), &notices),
        )),
        || async { Ok::<_, String>(prepared.fetch_add(1, Ordering::SeqCst) + 1) },
        |plan_number| {
            let seen_in_body = Arc::clone(&seen_in_body);
            let backend = backend.clone();
            async move {
                *seen_in_body.lock().unwrap() =
                    Some((plan_number, backend.lock_of("main").map(|lock| lock.who)));
                Ok::<_, String>("applied")
            }
        },
    )
    .await;
    assert_eq!(locked.result.unwrap(), "applied");
    assert!(locked.release.is_none());
    // The body ran with the second plan, holding the lock; the lock is gone afterwards.
    assert_eq!(
        *seen_in_body.lock().unwrap(),
        Some((2, Some("ci@runner".to_owned())))
    );
    assert_eq!(prepared.load(Ordering::SeqCst), 2);
    assert_eq!(*notices.lock().unwrap(), ["main: alice@laptop lk-other"]);
    assert_eq!(backend.lock_of("main"), None);
    assert_eq!(backend.lock_of("dev"), None);
    assert_eq!(backend.call_log(), ["lock dev,main", "unlock dev,main"]);
}

#[tokio::test]
async fn the_lock_is_released_when_the_plan_or_the_apply_fails() {
    let backend = FakeBackend::new();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let request = request(Duration::ZERO, &notices);
    let locks = Some((&backend as &dyn ApplyLocks, &request));
    let failed_plan = under_lock(
        locks,
        || async { Err::<(), _>("ERR_MANIFEST_SYNTAX".to_owned()) },
        |()| async { Ok::<_, String>(()) },
    )
    .await;
    assert!(
        matches!(&failed_plan.result, Err(LockedError::Inner(error)) if error == "ERR_MANIFEST_SYNTAX"),
        "{failed_plan:?}"
    );
    let failed_apply = under_lock(
        locks,
        || async { Ok::<_, String>(()) },
        |()| async { Err::<(), _>("ERR_DEPLOY_FAILED".to_owned()) },
    )
    .await;
    assert!(
        matches!(&failed_apply.result, Err(LockedError::Inner(error)) if error == "ERR_DEPLOY_FAILED"),
        "{failed_apply:?}"
    );
    assert_eq!(backend.lock_of("main"), None);
    assert_eq!(
        backend.call_log(),
        [
            "lock dev,main",
            "unlock dev,main",
            "lock dev,main",
            "unlock dev,main"
        ]
    );
}

#[tokio::test]
async fn an_apply_cut_short_still_releases_its_lock() {
    let backend = FakeBackend::new();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let request = request(Duration::ZERO, &notices);
    let applying = under_lock(
        Some((&backend as &dyn ApplyLocks, &request)),
        || async { Ok::<_, String>(()) },
        |()| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, String>(())
        },
    );
    let cut = tokio::time::timeout(Duration::from_millis(100), applying).await;
    assert!(cut.is_err());
    // Dropped with the future: released without waiting, as the helper does when its input closes.
    assert_eq!(backend.lock_of("main"), None);
    assert_eq!(backend.call_log(), ["lock dev,main"]);
}

#[tokio::test]
async fn a_lock_removed_meanwhile_is_reported_at_the_release_and_the_result_stands() {
    let backend = FakeBackend::new();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let request = request(Duration::ZERO, &notices);
    let locked = under_lock(
        Some((&backend as &dyn ApplyLocks, &request)),
        || async { Ok::<_, String>(()) },
        |()| async {
            let id = backend.lock_of("main").unwrap().id;
            let removed = backend.force_unlock("main", &id).await.unwrap();
            assert!(matches!(removed, ForceUnlock::Removed(_)), "{removed:?}");
            Ok::<_, String>("applied")
        },
    )
    .await;
    assert_eq!(locked.result.unwrap(), "applied");
    match locked.release {
        Some(ReleaseProblem::Lost {
            lock_id,
            environments,
        }) => {
            assert_eq!(lock_id, "lk-fake1");
            assert_eq!(environments, ["main"]);
        }
        other => panic!("expected a lost lock, got {other:?}"),
    }
    assert_eq!(backend.lock_of("dev"), None);
}

#[tokio::test]
async fn a_lock_that_cannot_be_requested_fails_the_apply_unless_the_plan_failed_first() {
    let backend = FakeBackend::new();
    backend.fail_lock(BackendError::NotLoggedIn {
        stderr: "Token missing.".into(),
    });
    let notices = Arc::new(Mutex::new(Vec::new()));
    let request = request(Duration::ZERO, &notices);
    let locks = Some((&backend as &dyn ApplyLocks, &request));
    let locked = under_lock(
        locks,
        || async { Ok::<_, String>(()) },
        |()| async { Ok::<_, String>(()) },
    )
    .await;
    assert!(
        matches!(
            locked.result,
            Err(LockedError::Lock(BackendError::NotLoggedIn { .. }))
        ),
        "{locked:?}"
    );
    let locked = under_lock(
        locks,
        || async { Err::<(), _>("ERR_MANIFEST_READ".to_owned()) },
        |()| async { Ok::<_, String>(()) },
    )
    .await;
    assert!(
        matches!(&locked.result, Err(LockedError::Inner(error)) if error == "ERR_MANIFEST_READ"),
        "{locked:?}"
    );
}

#[tokio::test]
async fn without_a_request_nothing_is_locked() {
    let locked = under_lock(
        None,
        || async { Ok::<_, String>(1) },
        |plan| async move { Ok::<_, String>(plan + 1) },
    )
    .await;
    assert_eq!(locked.result.unwrap(), 2);
    assert!(locked.release.is_none());
}

#[test]
fn the_holder_is_the_github_run_or_user_at_host() {
    let github = |name: &str| {
        match name {
            "GITHUB_SERVER_URL" => Some("https://github.com"),
            "GITHUB_REPOSITORY" => Some("acme/theory"),
            "GITHUB_RUN_ID" => Some("12345"),
            "GITHUB_ACTOR" => Some("octocat"),
            "USER" => Some("runner"),
            _ => None,
        }
        .map(str::to_owned)
    };
    assert_eq!(
        holder_from(github, "fv-az1", "apply".into(), "processors.toml".into()),
        LockHolder {
            who: "octocat in https://github.com/acme/theory/actions/runs/12345".into(),
            operation: "apply".into(),
            manifest: "processors.toml".into(),
        }
    );
    let person = |name: &str| (name == "USER").then(|| "alice".to_owned());
    assert_eq!(
        holder_from(person, "laptop", "apply plan.json".into(), "p.toml".into()).who,
        "alice@laptop"
    );
    assert_eq!(
        holder_from(|_: &str| None, "laptop", String::new(), String::new()).who,
        "unknown@laptop"
    );
}
