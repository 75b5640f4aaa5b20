//! Shape expressions: the dimensions of a tensor written as arithmetic on a family's
//! symbols (`V, H`, `A*D, H`, `(P+2), H`), parsed once and evaluated with checked
//! arithmetic: an expression that overflows or divides by zero has no value.

use std::fmt;

/// A parsed expression, in postfix order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr(Vec<Token>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Num(u64),
    Sym(&'static str),
    Op(u8),
}

/// A syntax error in a family's table (a bug in the family file, caught by its tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(pub String);

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn precedence(op: u8) -> u8 {
    match op {
        b'+' | b'-' => 1,
        _ => 2,
    }
}

impl Expr {
    /// Parse one expression: integers, symbols (`[A-Za-z_][A-Za-z0-9_]*`), `+ - * /`,
    /// parentheses. `/` is exact integer division (a remainder makes the value undefined).
    pub fn parse(text: &'static str) -> Result<Expr, SyntaxError> {
        let bad = |why: &str| SyntaxError(format!("shape expression `{text}`: {why}"));
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut ops: Vec<u8> = Vec::new();
        let mut i = 0;
        let mut expect_operand = true;
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                b' ' => i += 1,
                b'0'..=b'9' => {
                    let start = i;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    let n = text[start..i]
                        .parse()
                        .map_err(|_| bad("number too large"))?;
                    out.push(Token::Num(n));
                    expect_operand = false;
                }
                b'A'..=b'Z' | b'a'..=b'z' | b'_' => {
                    let start = i;
                    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_')
                    {
                        i += 1;
                    }
                    out.push(Token::Sym(&text[start..i]));
                    expect_operand = false;
                }
                b'(' => {
                    ops.push(c);
                    i += 1;
                }
                b')' => {
                    loop {
                        match ops.pop() {
                            Some(b'(') => break,
                            Some(op) => out.push(Token::Op(op)),
                            None => return Err(bad("unbalanced `)`")),
                        }
                    }
                    i += 1;
                }
                b'+' | b'-' | b'*' | b'/' => {
                    if expect_operand {
                        return Err(bad("operator without a left operand"));
                    }
                    while let Some(&top) = ops.last() {
                        if top != b'(' && precedence(top) >= precedence(c) {
                            out.push(Token::Op(top));
                            ops.pop();
                        } else {
                            break;
                        }
                    }
                    ops.push(c);
                    expect_operand = true;
                    i += 1;
                }
                _ => return Err(bad("unexpected character")),
            }
        }
        while let Some(op) = ops.pop() {
            if op == b'(' {
                return Err(bad("unbalanced `(`"));
            }
            out.push(Token::Op(op));
        }
        let expr = Expr(out);
        // A well-formed postfix sequence leaves exactly one value.
        let mut depth = 0i32;
        for t in &expr.0 {
            depth += match t {
                Token::Op(_) => -1,
                _ => 1,
            };
            if depth < 1 {
                return Err(bad("malformed"));
            }
        }
        if depth != 1 {
            return Err(bad("malformed"));
        }
        Ok(expr)
    }

    /// Parse a comma-separated shape: `V, H` is two expressions; `` (empty) a scalar.
    pub fn parse_shape(text: &'static str) -> Result<Vec<Expr>, SyntaxError> {
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        text.split(',')
            .map(|part| Expr::parse(part.trim()))
            .collect()
    }

    /// The single symbol this expression is, if it is one (used to infer dimensions from
    /// shapes).
    pub fn as_symbol(&self) -> Option<&'static str> {
        match self.0.as_slice() {
            [Token::Sym(s)] => Some(s),
            _ => None,
        }
    }

    /// Every symbol used.
    pub fn symbols(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().filter_map(|t| match t {
            Token::Sym(s) => Some(*s),
            _ => None,
        })
    }

    /// Evaluate with `value` giving each symbol; `None` on an unknown symbol, overflow,
    /// underflow, division by zero or a remainder.
    pub fn eval(&self, value: &dyn Fn(&str) -> Option<u64>) -> Option<u64> {
        let mut stack: Vec<u64> = Vec::with_capacity(4);
        for t in &self.0 {
            let v = match t {
                Token::Num(n) => *n,
                Token::Sym(s) => value(s)?,
                Token::Op(op) => {
                    let b = stack.pop()?;
                    let a = stack.pop()?;
                    match op {
                        b'+' => a.checked_add(b)?,
                        b'-' => a.checked_sub(b)?,
                        b'*' => a.checked_mul(b)?,
                        _ => {
                            if b == 0 || a % b != 0 {
                                return None;
                            }
                            a / b
                        }
                    }
                }
            };
            stack.push(v);
        }
        stack.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(s: &str) -> Option<u64> {
        match s {
            "H" => Some(768),
            "A" => Some(12),
            "P" => Some(512),
            "Z" => Some(0),
            _ => None,
        }
    }

    #[test]
    fn expressions_follow_precedence_and_parentheses() {
        assert_eq!(Expr::parse("H").unwrap().eval(&env), Some(768));
        assert_eq!(Expr::parse("H / A * 2").unwrap().eval(&env), Some(128));
        assert_eq!(
            Expr::parse("(P + 2) * H").unwrap().eval(&env),
            Some(514 * 768)
        );
        assert_eq!(
            Expr::parse("P + 2 * H").unwrap().eval(&env),
            Some(512 + 1536)
        );
        assert_eq!(Expr::parse("H - A - 6").unwrap().eval(&env), Some(750));
        assert_eq!(Expr::parse("H").unwrap().as_symbol(), Some("H"));
        assert_eq!(Expr::parse("2*H").unwrap().as_symbol(), None);
    }

    #[test]
    fn undefined_values_are_none_not_wrong() {
        assert_eq!(Expr::parse("H / Z").unwrap().eval(&env), None);
        assert_eq!(Expr::parse("A / 5").unwrap().eval(&env), None, "remainder");
        assert_eq!(Expr::parse("A - H").unwrap().eval(&env), None, "underflow");
        assert_eq!(Expr::parse("Q").unwrap().eval(&env), None, "unknown symbol");
        assert_eq!(
            Expr::parse("18446744073709551615 + 1").unwrap().eval(&env),
            None
        );
    }

    #[test]
    fn malformed_expressions_are_syntax_errors() {
        for bad in ["", "H +", "* H", "(H", "H)", "H H", "H $ 2"] {
            assert!(Expr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Expr::parse_shape("V, H").unwrap().len(), 2);
        assert_eq!(Expr::parse_shape("").unwrap().len(), 0);
    }
}
