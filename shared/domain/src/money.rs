//! Money is integer paise, end to end. There is no float type anywhere on a money path.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount in paise (1 rupee = 100 paise).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Paise(pub u64);

impl Paise {
    pub const ZERO: Paise = Paise(0);

    pub fn get(self) -> u64 {
        self.0
    }

    pub fn checked_add(self, other: Paise) -> Option<Paise> {
        self.0.checked_add(other.0).map(Paise)
    }

    pub fn checked_sub(self, other: Paise) -> Option<Paise> {
        self.0.checked_sub(other.0).map(Paise)
    }
}

impl Paise {
    /// `₹1,50,000.00`: rupees grouped the Indian way (thousands, then lakhs and crores
    /// in twos), as a person reads an amount in an email.
    pub fn to_rupees_grouped(self) -> String {
        let rupees = (self.0 / 100).to_string();
        let digits = rupees.len();
        let mut grouped = String::with_capacity(digits + digits / 2 + 4);
        for (index, digit) in rupees.chars().enumerate() {
            let left = digits - index;
            if index > 0 && (left == 3 || (left > 3 && (left - 3).is_multiple_of(2))) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        format!("₹{grouped}.{:02}", self.0 % 100)
    }
}

impl From<u64> for Paise {
    fn from(value: u64) -> Self {
        Paise(value)
    }
}

/// `₹1,234.50` is what people read in logs; grouping is left out on purpose so that
/// log queries can match the plain `₹1234.50` form the log lines have always had.
impl fmt::Display for Paise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "₹{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rupees_with_two_decimals() {
        assert_eq!(Paise(1000).to_string(), "₹10.00");
        assert_eq!(Paise(5).to_string(), "₹0.05");
        assert_eq!(Paise(123_456).to_string(), "₹1234.56");
        assert_eq!(Paise(u64::MAX).to_string(), "₹184467440737095516.15");
    }

    #[test]
    fn groups_rupees_in_thousands_then_lakhs_and_crores() {
        assert_eq!(Paise(5).to_rupees_grouped(), "₹0.05");
        assert_eq!(Paise(99_999).to_rupees_grouped(), "₹999.99");
        assert_eq!(Paise(100_000).to_rupees_grouped(), "₹1,000.00");
        assert_eq!(Paise(15_000_000).to_rupees_grouped(), "₹1,50,000.00");
        assert_eq!(Paise(1_234_567_890).to_rupees_grouped(), "₹1,23,45,678.90");
        assert_eq!(
            Paise(100_000_000_000).to_rupees_grouped(),
            "₹1,00,00,00,000.00"
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Paise(5).checked_sub(Paise(6)), None);
        assert_eq!(Paise(u64::MAX).checked_add(Paise(1)), None);
        assert_eq!(Paise(5).checked_add(Paise(6)), Some(Paise(11)));
    }
}
