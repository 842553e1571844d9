//! Whether two names are the same person's, as a bank compares them: the saved name
//! of a payout account against the name its bank holds it under (docs/RAZORPAYX.md,
//! "Name match").

/// The lowest score (0–100) taken as "the same person". RazorpayX documents only the
/// ends of its `name_match_score` (100 the same name, 0 nothing in common), so where
/// a partial match stops counting is ours to say: 70 lets through a reordered name
/// ("RAO ASHA"), an added middle name or an initial for a word, and stops a different
/// first or last name ("Asha Rao" against "Asha Rai" is 50). Our own comparison
/// ([`name_score`]) scores on the same scale, so one threshold serves both.
pub const NAME_MATCH_THRESHOLD: u8 = 70;

/// Words that are not part of anyone's name as a bank compares it: titles banks put
/// in front of the registered name, or that users type in front of their own.
const TITLES: [&str; 17] = [
    "MR", "MRS", "MS", "MISS", "MX", "MASTER", "MSTR", "DR", "PROF", "SHRI", "SHREE", "SRI", "SMT",
    "SMTI", "KUM", "SUSHRI", "MESSRS",
];

/// A name as compared: uppercase; apostrophes dropped (D'SOUZA is DSOUZA); a leading
/// "M/S" dropped; every other character that is not a letter or a digit a space;
/// then the words, titles (MR, MRS, DR, SHRI, SMT…) left out. Banks return names in
/// capitals, with or without titles and dots, sometimes surname first, so none of
/// that may count.
pub fn normalised_name(name: &str) -> Vec<String> {
    let upper = name.trim().to_uppercase();
    let upper = upper.strip_prefix("M/S").unwrap_or(&upper);
    let spaced: String = upper
        .chars()
        .filter(|ch| !matches!(ch, '\'' | '’' | '`'))
        .map(|ch| if ch.is_alphanumeric() { ch } else { ' ' })
        .collect();
    spaced
        .split_whitespace()
        .filter(|word| !TITLES.contains(word))
        .map(str::to_owned)
        .collect()
}

/// How alike two names are, 0–100, on the words of [`normalised_name`]: the words are
/// paired in any order, the same word with the same word, then a lone letter with a
/// word it is the initial of ("A K RAO" and "ANIL KUMAR RAO" pair fully); the score is
/// twice the pairs over the words of both (Dice), so an extra word on one side costs
/// ("ASHA RAO" and "ASHA K RAO" score 80, "ASHA" and "ASHA RAO" 67). Names that pair
/// only by initials score 0: "A RAO" is anyone's initials.
pub fn name_score(a: &str, b: &str) -> u8 {
    let a = normalised_name(a);
    let b = normalised_name(b);
    let total = a.len() + b.len();
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    let mut used_a = vec![false; a.len()];
    let mut used_b = vec![false; b.len()];
    let mut whole_words = 0usize;
    for (i, word) in a.iter().enumerate() {
        if let Some(j) = (0..b.len()).find(|&j| !used_b[j] && b[j] == *word) {
            used_a[i] = true;
            used_b[j] = true;
            whole_words += 1;
        }
    }
    if whole_words == 0 {
        return 0;
    }
    let initial_of = |short: &str, long: &str| {
        let mut letters = short.chars();
        match (letters.next(), letters.next()) {
            (Some(letter), None) => long.starts_with(letter),
            _ => false,
        }
    };
    let mut initials = 0usize;
    for i in 0..a.len() {
        if used_a[i] {
            continue;
        }
        if let Some(j) = (0..b.len())
            .find(|&j| !used_b[j] && (initial_of(&a[i], &b[j]) || initial_of(&b[j], &a[i])))
        {
            used_a[i] = true;
            used_b[j] = true;
            initials += 1;
        }
    }
    let pairs = whole_words + initials;
    // At most 100: each pair is one word of each side.
    u8::try_from((200 * pairs + total / 2) / total).unwrap_or(100)
}

/// Whether two names are the same person's, by [`name_score`] and
/// [`NAME_MATCH_THRESHOLD`].
pub fn names_match(a: &str, b: &str) -> bool {
    !normalised_name(a).is_empty()
        && !normalised_name(b).is_empty()
        && name_score(a, b) >= NAME_MATCH_THRESHOLD
}
