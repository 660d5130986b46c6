use std::fmt;

use super::FieldError;

const MIN_LEN: usize = 2;
const MAX_LEN: usize = 48;

/// An organization's URL slug: lowercase `a-z0-9` and single inner hyphens, 2–48 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrgSlug(String);

impl OrgSlug {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        let rule = "must be 2-48 characters of a-z, 0-9 and single hyphens, not starting or ending with a hyphen";
        let valid = (MIN_LEN..=MAX_LEN).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !value.starts_with('-')
            && !value.ends_with('-')
            && !value.contains("--");
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(FieldError::new(field, rule))
        }
    }

    /// Derives a slug from a display name: ASCII letters and digits kept (lower-cased), every
    /// other run of characters becomes one hyphen. A name with too few usable characters gets
    /// `org-` in front so the slug is still valid.
    pub fn from_name(name: &str) -> Self {
        let mut slug = String::with_capacity(name.len());
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let mut slug = slug.trim_matches('-').to_owned();
        if slug.len() > MAX_LEN {
            slug.truncate(MAX_LEN);
            slug = slug.trim_end_matches('-').to_owned();
        }
        if slug.len() < MIN_LEN {
            slug = format!("org-{slug}").trim_end_matches('-').to_owned();
            if slug.len() < MIN_LEN + 2 {
                slug = "org".to_owned();
            }
        }
        Self(slug)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_slugs_from_names() {
        assert_eq!(
            OrgSlug::from_name("Acme Engineering").as_str(),
            "acme-engineering"
        );
        assert_eq!(
            OrgSlug::from_name("acme-engineering").as_str(),
            "acme-engineering"
        );
        assert_eq!(
            OrgSlug::from_name("  Acme & Co., Ltd. ").as_str(),
            "acme-co-ltd"
        );
        assert_eq!(OrgSlug::from_name("Zoë's Lab").as_str(), "zo-s-lab");
        assert_eq!(OrgSlug::from_name("X").as_str(), "org-x");
        assert_eq!(OrgSlug::from_name("日本").as_str(), "org");
    }

    #[test]
    fn derived_slugs_are_always_valid() {
        for name in ["Acme", "a", "----", &"long name ".repeat(20), "9 lives"] {
            let slug = OrgSlug::from_name(name);
            assert!(
                OrgSlug::parse("slug", slug.as_str()).is_ok(),
                "{name} -> {slug}"
            );
        }
    }

    #[test]
    fn rejects_invalid_slugs() {
        for raw in [
            "A",
            "Acme",
            "acme_eng",
            "-acme",
            "acme-",
            "ac--me",
            "a",
            &"a".repeat(49),
        ] {
            assert!(OrgSlug::parse("slug", raw).is_err(), "{raw}");
        }
    }
}
