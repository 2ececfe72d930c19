use serde_json::Value;

/// An amount of money in fen (分), the unit of every amount in the API and at WeChat Pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fen(i64);

impl Fen {
    pub const MAX: i64 = 100_000_000; // ¥1,000,000

    /// Accepts a JSON integer in `1..=MAX`; a string, a fraction or `1.0` is refused, so a
    /// merchant who sends yuan by mistake learns it instead of being charged a hundredth.
    pub fn parse(field: &str, value: &Value) -> Result<Fen, String> {
        let message = || {
            format!(
                "{field} must be a positive integer number of fen, at most {}",
                Fen::MAX
            )
        };
        match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                let amount = n.as_i64().ok_or_else(message)?;
                Fen::from_i64(amount).ok_or_else(message)
            }
            _ => Err(message()),
        }
    }

    pub fn from_i64(amount: i64) -> Option<Fen> {
        (1..=Fen::MAX).contains(&amount).then_some(Fen(amount))
    }

    pub fn value(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_integers_in_range() {
        assert_eq!(Fen::parse("amount", &json!(1)).unwrap().value(), 1);
        assert_eq!(
            Fen::parse("amount", &json!(100_000_000)).unwrap().value(),
            100_000_000
        );
    }

    #[test]
    fn refuses_everything_else_naming_the_field() {
        for bad in [
            json!(0),
            json!(-1),
            json!(100_000_001),
            json!(1.5),
            json!(1.0),
            json!("1"),
            json!(null),
            json!(true),
            json!(u64::MAX),
        ] {
            let err = Fen::parse("amount", &bad).unwrap_err();
            assert!(err.starts_with("amount must be"), "{bad}: {err}");
        }
    }
}
