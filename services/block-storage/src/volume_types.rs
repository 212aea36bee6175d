//! EBS volume types and AWS's rules for each: size range, IOPS and throughput (given,
//! defaulted or refused), and what DescribeVolumes reports for them.

use crate::error::{BlockStorageError, Result};

/// Every volume type AWS knows, as `VolumeType` spells it.
pub const TYPES: &[&str] = &["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"];

/// A volume's size, type and performance, as validated and as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Performance {
    pub size_gib: i32,
    pub volume_type: String,
    /// `None` where the type reports none (st1, sc1, standard).
    pub iops: Option<i32>,
    /// MiB/s; only gp3 reports it.
    pub throughput: Option<i32>,
}

/// What a caller asks for (CreateVolume's or ModifyVolume's parameters).
#[derive(Debug, Clone, Default)]
pub struct Requested {
    pub size_gib: Option<i64>,
    pub volume_type: Option<String>,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
}

/// `(min GiB, max GiB)` of a type.
fn size_range(volume_type: &str) -> (i64, i64) {
    match volume_type {
        "io1" => (4, 16384),
        "io2" => (4, 65536),
        "st1" | "sc1" => (125, 16384),
        "standard" => (1, 1024),
        _ => (1, 16384),
    }
}

fn invalid(message: String) -> BlockStorageError {
    BlockStorageError::invalid(message)
}

fn combination(message: String) -> BlockStorageError {
    BlockStorageError::Invalid("InvalidParameterCombination", message)
}

/// The type's name, checked.
pub fn parse_type(volume_type: &str) -> Result<&'static str> {
    TYPES
        .iter()
        .find(|t| **t == volume_type)
        .copied()
        .ok_or_else(|| {
            invalid(format!(
                "Value ({volume_type}) for parameter volumeType is invalid. Valid values: {}",
                TYPES.join(", ")
            ))
        })
}

/// Check a size against the type's range.
pub fn check_size(volume_type: &str, size_gib: i64) -> Result<i32> {
    let (min, max) = size_range(volume_type);
    if size_gib < min {
        return Err(invalid(format!(
            "Volume of {size_gib}GiB is too small; minimum is {min}GiB."
        )));
    }
    if size_gib > max {
        return Err(invalid(format!(
            "Volume of {size_gib}GiB is too large; maximum is {max}GiB."
        )));
    }
    i32::try_from(size_gib).map_err(|_| invalid(format!("Volume of {size_gib}GiB is too large")))
}

fn bounded(name: &str, value: i64, min: i64, max: i64) -> Result<i32> {
    if value < min || value > max {
        return Err(invalid(format!(
            "The parameter {name} must be between {min} and {max}; {value} was given."
        )));
    }
    i32::try_from(value).map_err(|_| invalid(format!("The parameter {name} is out of range")))
}

/// The validated performance of a volume of `volume_type` and `size_gib`, given the
/// caller's `iops` and `throughput` (AWS's defaults where the type has them).
pub fn resolve(
    volume_type: &str,
    size_gib: i64,
    iops: Option<i64>,
    throughput: Option<i64>,
) -> Result<Performance> {
    let volume_type = parse_type(volume_type)?;
    let size = check_size(volume_type, size_gib)?;
    if throughput.is_some() && volume_type != "gp3" {
        return Err(combination(format!(
            "The parameter throughput is not supported for {volume_type} volumes."
        )));
    }
    let (iops, throughput) = match volume_type {
        "gp2" => {
            if iops.is_some() {
                return Err(combination(
                    "The parameter iops is not supported for gp2 volumes.".into(),
                ));
            }
            // Baseline: 3 IOPS per GiB, at least 100, at most 16000.
            ((size_gib * 3).clamp(100, 16000), None)
        }
        "gp3" => {
            let iops = iops.unwrap_or(3000);
            let iops = i64::from(bounded("iops", iops, 3000, 16000)?);
            if iops > 3000 && iops > size_gib * 500 {
                return Err(invalid(format!(
                    "Iops to volume size ratio of {:.1} is too high; maximum is 500.0.",
                    iops as f64 / size_gib as f64
                )));
            }
            let throughput = throughput.unwrap_or(125);
            let throughput = i64::from(bounded("throughput", throughput, 125, 1000)?);
            if throughput > 125 && throughput * 4 > iops {
                return Err(invalid(format!(
                    "Throughput (MiBps) to iops ratio of {:.3} is too high; maximum is 0.250 MiBps per iops.",
                    throughput as f64 / iops as f64
                )));
            }
            (iops, Some(throughput))
        }
        "io1" | "io2" => {
            let iops = iops.ok_or_else(|| BlockStorageError::Missing("iops".into()))?;
            let (max, per_gib) = if volume_type == "io1" {
                (64000, 50)
            } else {
                (256000, 1000)
            };
            let iops = i64::from(bounded("iops", iops, 100, max)?);
            if iops > size_gib * per_gib {
                return Err(invalid(format!(
                    "Iops to volume size ratio of {:.1} is too high; maximum is {per_gib}.0.",
                    iops as f64 / size_gib as f64
                )));
            }
            (iops, None)
        }
        _ => {
            if iops.is_some() {
                return Err(combination(format!(
                    "The parameter iops is not supported for {volume_type} volumes."
                )));
            }
            return Ok(Performance {
                size_gib: size,
                volume_type: volume_type.into(),
                iops: None,
                throughput: None,
            });
        }
    };
    Ok(Performance {
        size_gib: size,
        volume_type: volume_type.into(),
        iops: Some(i32::try_from(iops).map_err(|_| invalid("iops out of range".into()))?),
        throughput: throughput.map(|t| t as i32),
    })
}

/// ModifyVolume: the new performance from the current one and what is asked (a size that
/// only grows; a type change drops the old type's IOPS/throughput unless given again).
pub fn modified(current: &Performance, asked: &Requested) -> Result<Performance> {
    if let Some(size) = asked.size_gib {
        if size < i64::from(current.size_gib) {
            return Err(invalid(format!(
                "New size cannot be smaller than existing size ({}GiB).",
                current.size_gib
            )));
        }
    }
    let size = asked.size_gib.unwrap_or(i64::from(current.size_gib));
    let volume_type = asked
        .volume_type
        .clone()
        .unwrap_or_else(|| current.volume_type.clone());
    let same_type = volume_type == current.volume_type;
    let iops = asked.iops.or(match volume_type.as_str() {
        "gp3" | "io1" | "io2" if same_type => current.iops.map(i64::from),
        _ => None,
    });
    let throughput = asked.throughput.or(match volume_type.as_str() {
        "gp3" if same_type => current.throughput.map(i64::from),
        _ => None,
    });
    let next = resolve(&volume_type, size, iops, throughput)?;
    if next == *current {
        return Err(invalid(
            "New parameters must differ from the volume's current ones.".to_string(),
        ));
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_per_type() {
        let gp3 = resolve("gp3", 10, None, None).unwrap();
        assert_eq!((gp3.iops, gp3.throughput), (Some(3000), Some(125)));
        let gp2 = resolve("gp2", 10, None, None).unwrap();
        assert_eq!((gp2.iops, gp2.throughput), (Some(100), None));
        assert_eq!(resolve("gp2", 1000, None, None).unwrap().iops, Some(3000));
        assert_eq!(resolve("standard", 10, None, None).unwrap().iops, None);
        assert_eq!(resolve("io1", 10, Some(500), None).unwrap().iops, Some(500));
    }

    #[test]
    fn bounds_per_type() {
        assert!(resolve("gp2", 0, None, None).is_err());
        assert!(resolve("gp2", 16385, None, None).is_err());
        assert!(resolve("st1", 124, None, None).is_err());
        assert!(resolve("standard", 1025, None, None).is_err());
        assert!(resolve("io1", 10, None, None).is_err());
        assert!(resolve("io1", 10, Some(501), None).is_err());
        assert!(resolve("gp2", 10, Some(300), None).is_err());
        assert!(resolve("gp3", 1, Some(4000), None).is_err());
        assert!(resolve("gp3", 100, Some(4000), Some(1001)).is_err());
        assert!(resolve("gp3", 100, Some(3000), Some(751)).is_err());
        assert!(resolve("sc1", 500, None, Some(200)).is_err());
        assert!(resolve("bogus", 10, None, None).is_err());
    }

    #[test]
    fn modifications_grow_only() {
        let current = resolve("gp2", 10, None, None).unwrap();
        let grown = Requested {
            size_gib: Some(20),
            ..Requested::default()
        };
        assert_eq!(modified(&current, &grown).unwrap().size_gib, 20);
        let shrunk = Requested {
            size_gib: Some(5),
            ..Requested::default()
        };
        assert!(modified(&current, &shrunk).is_err());
        let to_gp3 = Requested {
            volume_type: Some("gp3".into()),
            ..Requested::default()
        };
        let gp3 = modified(&current, &to_gp3).unwrap();
        assert_eq!((gp3.iops, gp3.throughput), (Some(3000), Some(125)));
        assert!(modified(&current, &Requested::default()).is_err());
    }
}
