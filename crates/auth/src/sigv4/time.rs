//! The time a request was signed at, and whether it is fresh enough.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{incomplete, ParsedSignature, AMZ_DATE_FORMAT, MAX_PRESIGNED_EXPIRES};
use crate::AuthError;

/// Parse `yyyymmddThhmmssZ`.
pub fn parse_amz_date(value: &str) -> Result<DateTime<Utc>, AuthError> {
    if value.len() != 16 {
        return Err(incomplete(format!(
            "'{value}' is not a date of the form yyyyMMdd'T'HHmmss'Z'"
        )));
    }
    NaiveDateTime::parse_from_str(value, AMZ_DATE_FORMAT)
        .map(|t| t.and_utc())
        .map_err(|_| {
            incomplete(format!(
                "'{value}' is not a date of the form yyyyMMdd'T'HHmmss'Z'"
            ))
        })
}

/// Format as `yyyymmddThhmmssZ`.
pub fn format_amz_date(time: DateTime<Utc>) -> String {
    time.format(AMZ_DATE_FORMAT).to_string()
}

/// The time the client signed at, and its `yyyymmddThhmmssZ` form as used in the string to
/// sign. Header signatures take it from `x-amz-date` (or else `date`), which must be
/// signed so it cannot be replaced; presigned URLs from `X-Amz-Date`. The credential scope's
/// date must be that day.
pub fn request_time(
    parsed: &ParsedSignature,
    headers: &[(String, String)],
) -> Result<(DateTime<Utc>, String), AuthError> {
    let (time, amz_date) = match &parsed.presigned {
        Some(p) => (parse_amz_date(&p.amz_date)?, p.amz_date.clone()),
        None => {
            let find = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim())
            };
            let signed = |name: &str| parsed.signed_headers.iter().any(|h| h == name);
            if let Some(value) = find("x-amz-date") {
                if !signed("x-amz-date") {
                    return Err(incomplete("the x-amz-date header must be signed"));
                }
                (parse_amz_date(value)?, value.to_string())
            } else if let Some(value) = find("date") {
                if !signed("date") {
                    return Err(incomplete("the date header must be signed"));
                }
                let time = DateTime::parse_from_rfc2822(value)
                    .map_err(|_| incomplete(format!("Date header '{value}' is not an HTTP date")))?
                    .with_timezone(&Utc);
                (time, format_amz_date(time))
            } else {
                return Err(incomplete(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
                ));
            }
        }
    };
    if amz_date.get(..8) != Some(parsed.credential.date.as_str()) {
        return Err(incomplete(format!(
            "Invalid credential date '{}': it is not the date of the request time {amz_date}",
            parsed.credential.date
        )));
    }
    Ok((time, amz_date))
}

/// Is the request recent enough (and not from the future)? Header signatures may be at most
/// `max_skew` away from `now` either way; presigned URLs are valid from their date (less the
/// skew) until date + `X-Amz-Expires`, which may not exceed seven days.
pub fn check_freshness(
    parsed: &ParsedSignature,
    time: DateTime<Utc>,
    now: DateTime<Utc>,
    max_skew: std::time::Duration,
) -> Result<(), AuthError> {
    let skew = i64::try_from(max_skew.as_secs()).unwrap_or(i64::MAX);
    let ahead = (time - now).num_seconds();
    let fmt = format_amz_date;
    match &parsed.presigned {
        None => {
            let behind = (now - time).num_seconds();
            if behind > skew {
                return Err(AuthError::RequestExpired(format!(
                    "Signature expired: {} is now earlier than {} ({} - {} min.)",
                    fmt(time),
                    fmt(now - chrono::Duration::seconds(skew)),
                    fmt(now),
                    skew / 60
                )));
            }
            if ahead > skew {
                return Err(AuthError::RequestExpired(format!(
                    "Signature not yet current: {} is still later than {} ({} + {} min.)",
                    fmt(time),
                    fmt(now + chrono::Duration::seconds(skew)),
                    fmt(now),
                    skew / 60
                )));
            }
        }
        Some(p) => {
            if p.expires > MAX_PRESIGNED_EXPIRES {
                // S3 answers this 400 AuthorizationQueryParametersError.
                return Err(incomplete(format!(
                    "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than {MAX_PRESIGNED_EXPIRES} seconds"
                )));
            }
            if ahead > skew {
                return Err(AuthError::RequestExpired(
                    "Request is not valid yet".to_string(),
                ));
            }
            // `expires` is at most a week, so the cast cannot wrap.
            let age = (now - time).num_seconds();
            // Valid for `expires` seconds from its date: X-Amz-Expires=0 never is (S3: 403).
            if age >= p.expires as i64 {
                return Err(AuthError::RequestExpired("Request has expired".to_string()));
            }
        }
    }
    Ok(())
}
