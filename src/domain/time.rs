use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// Now, in UTC, to the whole second: the precision of every timestamp the API shows, so a
/// value read back from either database compares equal to the one written.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(0)
}

/// Now, in UTC, to the microsecond (what Postgres keeps): for schedules finer than a second.
pub fn now_precise() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// RFC 3339 in UTC with a `Z`, as every timestamp in the API's JSON.
pub fn rfc3339(t: NaiveDateTime) -> String {
    DateTime::<Utc>::from_naive_utc_and_offset(t, Utc)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub mod serde_rfc3339 {
    use chrono::NaiveDateTime;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*t))
    }

    pub mod option {
        use chrono::NaiveDateTime;
        use serde::Serializer;

        pub fn serialize<S: Serializer>(
            t: &Option<NaiveDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::super::rfc3339(*t)),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn rfc3339_is_utc_with_z_and_whole_seconds() {
        let t = NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_milli_opt(6, 13, 19, 500)
            .unwrap();
        assert_eq!(rfc3339(t), "2026-11-22T06:13:19Z");
    }

    #[test]
    fn now_has_no_fraction() {
        assert_eq!(now().and_utc().timestamp_subsec_nanos(), 0);
    }
}
