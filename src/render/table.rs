//! The one way modalplan prints a table: columns aligned on the widest cell (characters, not bytes),
//! two spaces between them, the last column not padded, no trailing spaces.

/// `rows` (the header first) as aligned lines, each starting with `indent`.
pub fn aligned<S: AsRef<str>>(indent: &str, rows: &[Vec<S>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.as_ref().chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(indent);
        for (index, cell) in row.iter().enumerate() {
            let cell = cell.as_ref();
            line.push_str(cell);
            if index + 1 < row.len() {
                let padding = widths[index] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', padding));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::aligned;

    #[test]
    fn columns_align_on_the_widest_cell_in_characters() {
        let rows = vec![
            vec!["APP", "ENV", "NOTE"],
            vec!["llm-litellm-v1", "main", "ok"],
            vec!["é", "dev", ""],
        ];
        assert_eq!(
            aligned("  ", &rows),
            "  APP             ENV   NOTE\n  llm-litellm-v1  main  ok\n  é               dev\n"
        );
        assert_eq!(aligned("", &[vec!["A"]]), "A\n");
        assert_eq!(aligned::<&str>("", &[]), "");
    }
}
