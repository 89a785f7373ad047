//! Why a [`Redis`](crate::Redis) connection could not be created, and URLs fit for messages.
//! Redis being unreachable is not an error: see [`Trouble`](crate::Trouble).

/// A connection setup error: the options are unusable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option has a value the connection cannot work with.
    #[error("invalid redis option {field}: {reason}")]
    InvalidOption { field: &'static str, reason: String },
    /// `redis_url` cannot be parsed or describes a setup the client refuses (`url` has its
    /// password hidden).
    #[error("invalid redis_url {url}")]
    RedisUrl {
        url: String,
        #[source]
        source: fred::error::Error,
    },
}

/// The URL with any password replaced, for messages and logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn hides_the_password_of_a_url() {
        assert_eq!(
            redacted("redis://:s3cret@host:6379/0"),
            "redis://:***@host:6379/0"
        );
        assert_eq!(redacted("redis://me:s3cret@host"), "redis://me:***@host");
        assert_eq!(
            redacted("redis://127.0.0.1:16379"),
            "redis://127.0.0.1:16379"
        );
    }
}
