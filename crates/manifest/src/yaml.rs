//! A YAML tree that remembers where each node came from.
//!
//! dbt users need errors that point at a line. `yaml-rust2`'s own tree drops positions, so
//! this module builds a small tree from the parser's marked events instead.

use indexmap::IndexMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in a YAML file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A node of a YAML document with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: NodeValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string; `quoted` is true when it was written in quotes (so `"true"` stays a string).
    Str(String),
    Seq(Vec<Node>),
    /// Keys are kept as text with their own position.
    Map(IndexMap<String, (Pos, Node)>),
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(m) => m.get(key).map(|(_, n)| n),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    /// The scalar as text, whatever its type (`true` → "true", `3` → "3").
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            NodeValue::Str(s) => Some(s.clone()),
            NodeValue::Bool(b) => Some(b.to_string()),
            NodeValue::Int(i) => Some(i.to_string()),
            NodeValue::Float(f) => Some(f.to_string()),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    /// Converts to a JSON value (for `vars`, `meta` and Jinja contexts).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            NodeValue::Null => J::Null,
            NodeValue::Bool(b) => J::Bool(*b),
            NodeValue::Int(i) => J::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            NodeValue::Str(s) => J::String(s.clone()),
            NodeValue::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(m) => J::Object(m.iter().map(|(k, (_, v))| (k.clone(), v.to_json())).collect()),
        }
    }
}

impl Node {
    /// A tree for a JSON value, without positions (every line is 0), so JSON can go through
    /// the same validation as YAML.
    pub fn from_json(value: &serde_json::Value) -> Node {
        use serde_json::Value as J;
        let value = match value {
            J::Null => NodeValue::Null,
            J::Bool(b) => NodeValue::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => NodeValue::Int(i),
                None => n.as_f64().map_or(NodeValue::Null, NodeValue::Float),
            },
            J::String(s) => NodeValue::Str(s.clone()),
            J::Array(items) => NodeValue::Seq(items.iter().map(Node::from_json).collect()),
            J::Object(m) => NodeValue::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), (Pos::default(), Node::from_json(v))))
                    .collect(),
            ),
        };
        Node {
            pos: Pos::default(),
            value,
        }
    }
}

/// Parses one YAML document (an empty file is `Null`).
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| YamlError {
        pos: pos(e.marker()),
        message: e.info().to_string(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root.unwrap_or(Node {
        pos: Pos { line: 1, col: 1 },
        value: NodeValue::Null,
    }))
}

fn pos(m: &Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

enum Frame {
    Seq(Pos, Vec<Node>),
    Map(Pos, IndexMap<String, (Pos, Node)>, Option<(String, Pos)>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    error: Option<YamlError>,
    anchors: std::collections::HashMap<usize, Node>,
    // Anchor ids of open collections, so the finished node can be recorded.
    open_anchors: Vec<usize>,
}

impl Builder {
    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, map, pending)) => match pending.take() {
                None => match node.scalar_text() {
                    Some(key) => *pending = Some((key, node.pos)),
                    None => {
                        if self.error.is_none() {
                            self.error = Some(YamlError {
                                pos: node.pos,
                                message: format!("a mapping key must be a scalar, found {}", node.kind()),
                            });
                        }
                        *pending = Some((String::new(), node.pos));
                    }
                },
                Some((key, key_pos)) => {
                    if map.contains_key(&key) && self.error.is_none() {
                        self.error = Some(YamlError {
                            pos: key_pos,
                            message: format!("duplicate key '{key}'"),
                        });
                    }
                    map.insert(key, (key_pos, node));
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let p = pos(&mark);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let value = if style == TScalarStyle::Plain {
                    plain_scalar(text)
                } else {
                    NodeValue::Str(text)
                };
                let node = Node { pos: p, value };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_node(node);
            }
            Event::SequenceStart(anchor, _) => {
                self.open_anchors.push(anchor);
                self.stack.push(Frame::Seq(p, Vec::new()));
            }
            Event::MappingStart(anchor, _) => {
                self.open_anchors.push(anchor);
                self.stack.push(Frame::Map(p, IndexMap::new(), None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq(p, items)) => Node {
                        pos: p,
                        value: NodeValue::Seq(items),
                    },
                    Some(Frame::Map(p, map, _)) => Node {
                        pos: p,
                        value: NodeValue::Map(map),
                    },
                    None => return,
                };
                if let Some(anchor) = self.open_anchors.pop().filter(|a| *a > 0) {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_node(node);
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    pos: p,
                    value: NodeValue::Null,
                });
                self.push_node(node);
            }
            _ => {}
        }
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn plain_scalar(text: String) -> NodeValue {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return NodeValue::Int(i);
    }
    let looks_numeric = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
        && text.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
    if looks_numeric && let Ok(f) = text.parse::<f64>() {
        return NodeValue::Float(f);
    }
    NodeValue::Str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let doc = parse("metrics:\n  - name: a\n    time_grains: [day, month]\n").unwrap();
        let metrics = doc.get("metrics").unwrap();
        let NodeValue::Seq(items) = &metrics.value else {
            panic!("not a list")
        };
        let name = items[0].get("name").unwrap();
        assert_eq!(name.as_str(), Some("a"));
        assert_eq!(name.pos.line, 2);
        assert_eq!(items[0].get("time_grains").unwrap().pos.line, 3);
    }

    #[test]
    fn resolves_scalars_like_yaml_core_schema() {
        let doc = parse("a: true\nb: 'true'\nc: 3\nd: 1.5\ne: ~\nf: x").unwrap();
        assert_eq!(doc.get("a").unwrap().value, NodeValue::Bool(true));
        assert_eq!(doc.get("b").unwrap().value, NodeValue::Str("true".into()));
        assert_eq!(doc.get("c").unwrap().value, NodeValue::Int(3));
        assert_eq!(doc.get("d").unwrap().value, NodeValue::Float(1.5));
        assert!(doc.get("e").unwrap().is_null());
        assert_eq!(doc.get("f").unwrap().as_str(), Some("x"));
    }

    #[test]
    fn reports_syntax_errors_with_line() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err:?}");
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
        assert!(err.message.contains("duplicate key 'a'"));
    }
}
