//! A reader of template.yaml just deep enough for the agreement tests (variables.rs,
//! permissions.rs): indented lines, blocks, keys, scalars and list items. CloudFormation's
//! short tags (`!Ref`, `!Sub`, ...) stay text, which a YAML library would reject.

/// One line of YAML that is neither blank nor a comment.
pub struct Line<'a> {
    pub number: usize,
    pub indent: usize,
    pub text: &'a str,
}

/// template.yaml as indented lines: enough to walk from a key to its
/// children, and the items of a list.
pub struct Yaml<'a> {
    pub lines: Vec<Line<'a>>,
}

impl<'a> Yaml<'a> {
    pub fn new(source: &'a str) -> Self {
        let lines = source
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
            .map(|(i, line)| {
                assert!(
                    !line.starts_with('\t'),
                    "template.yaml:{}: a tab in the indentation",
                    i + 1
                );
                let text = line.trim_start();
                Line {
                    number: i + 1,
                    indent: line.len() - text.len(),
                    text: text.trim_end(),
                }
            })
            .collect();
        Self { lines }
    }

    /// The lines under `parent` (the whole file for `None`): those indented deeper than it.
    pub fn block(&self, parent: Option<usize>) -> std::ops::Range<usize> {
        match parent {
            None => 0..self.lines.len(),
            Some(p) => {
                let end = (p + 1..self.lines.len())
                    .find(|&i| self.lines[i].indent <= self.lines[p].indent)
                    .unwrap_or(self.lines.len());
                p + 1..end
            }
        }
    }

    /// The direct children of `parent`: the lines of its block at the block's first indent.
    pub fn children(&self, parent: Option<usize>) -> Vec<usize> {
        let block = self.block(parent);
        if block.is_empty() {
            return Vec::new();
        }
        let indent = self.lines[block.start].indent;
        block.filter(|&i| self.lines[i].indent == indent).collect()
    }

    /// The `key: value` of a line (value empty when a block follows), if it is one.
    pub fn key_value(text: &str) -> Option<(&str, &str)> {
        let (key, value) = text.split_once(':')?;
        (!key.is_empty() && !key.contains(' ')).then_some((key, strip_comment(value.trim())))
    }

    /// The child `key:` of `parent`, whatever follows the colon.
    pub fn find(&self, parent: Option<usize>, key: &str) -> Option<usize> {
        let found: Vec<usize> = self
            .children(parent)
            .into_iter()
            .filter(|&i| Self::key_value(self.lines[i].text).is_some_and(|(k, _)| k == key))
            .collect();
        assert!(
            found.len() <= 1,
            "template.yaml: {key} appears {} times in one block",
            found.len()
        );
        found.first().copied()
    }

    /// The block at `path`; fails if any step is missing.
    pub fn path(&self, path: &[&str]) -> usize {
        let mut at = None;
        for (depth, key) in path.iter().enumerate() {
            let found = self.find(at, key).unwrap_or_else(|| {
                panic!(
                    "template.yaml: no `{key}:` under {}",
                    if depth == 0 {
                        "the top level".to_owned()
                    } else {
                        path[..depth].join(".")
                    }
                )
            });
            at = Some(found);
        }
        at.unwrap_or_else(|| panic!("an empty path"))
    }

    /// The `NAME: value` entries of a block, each name a variable name.
    pub fn entries(&self, block: usize) -> Vec<(&'a str, &'a str, usize)> {
        self.children(Some(block))
            .into_iter()
            .map(|i| {
                let line = &self.lines[i];
                let (name, value) = line
                    .text
                    .split_once(':')
                    .unwrap_or_else(|| panic!("template.yaml:{}: not `NAME: value`", line.number));
                assert!(
                    !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                    "template.yaml:{}: {name:?} is not a variable name",
                    line.number
                );
                (name, value.trim(), line.number)
            })
            .collect()
    }

    /// The scalar after `key:` among `parent`'s children, unquoted.
    pub fn scalar(&self, parent: usize, key: &str) -> Option<&'a str> {
        let at = self.find(Some(parent), key)?;
        Self::key_value(self.lines[at].text).map(|(_, value)| unquote(value))
    }

    /// The entries of the list item at `item` (`- Key: value` and the keys under it): each
    /// key, its inline value, and the line to read a block value under.
    pub fn item(&self, item: usize) -> Vec<(&'a str, &'a str, usize)> {
        let line = &self.lines[item];
        let first = line
            .text
            .strip_prefix("- ")
            .unwrap_or_else(|| panic!("template.yaml:{}: not a list item", line.number));
        let (key, value) = Self::key_value(first)
            .unwrap_or_else(|| panic!("template.yaml:{}: not `- Key: value`", line.number));
        assert!(
            !value.is_empty(),
            "template.yaml:{}: a block right after `- {key}:` is more YAML than this reader reads",
            line.number
        );
        let mut entries = vec![(key, value, item)];
        for child in self.children(Some(item)) {
            let text = self.lines[child].text;
            let (key, value) = Self::key_value(text)
                .unwrap_or_else(|| panic!("template.yaml:{}: not `Key: value`", self.lines[child].number));
            entries.push((key, value, child));
        }
        entries
    }

    /// A list of scalars: `[a, b]` or `a` after the colon, or `- a` lines under `at`.
    pub fn strings(&self, at: usize, inline: &'a str) -> Result<Vec<(String, usize)>, String> {
        let number = self.lines[at].number;
        let tagged = |value: &str| {
            if value.starts_with('!') {
                Err(format!(
                    "template.yaml:{number}: {value:?}: an intrinsic function where this test \
                     needs literal actions"
                ))
            } else {
                Ok(())
            }
        };
        if let Some(list) = inline.strip_prefix('[') {
            let list = list
                .strip_suffix(']')
                .ok_or(format!("template.yaml:{number}: an open `[`"))?;
            return list
                .split(',')
                .map(|value| {
                    let value = unquote(value.trim());
                    tagged(value).map(|()| (value.to_owned(), number))
                })
                .collect();
        }
        if !inline.is_empty() {
            tagged(inline)?;
            return Ok(vec![(unquote(inline).to_owned(), number)]);
        }
        self.children(Some(at))
            .into_iter()
            .map(|child| {
                let line = &self.lines[child];
                let value = line
                    .text
                    .strip_prefix("- ")
                    .map(|value| unquote(strip_comment(value.trim())))
                    .ok_or(format!("template.yaml:{}: not `- value`", line.number))?;
                tagged(value).map(|()| (value.to_owned(), line.number))
            })
            .collect()
    }
}

pub fn unquote(value: &str) -> &str {
    value.trim().trim_matches('"').trim_matches('\'')
}

pub fn strip_comment(value: &str) -> &str {
    value
        .split_once(" #")
        .map_or(value, |(value, _)| value)
        .trim_end()
}
