//! Which HTTP redirects the backend client follows: only to a configured address, and only a few hops.
//!
//! Every request carries `X-Vault-Token` (or a login credential in its body), and reqwest strips only the
//! standard auth headers on a cross-host redirect: following a redirect anywhere else would hand the token
//! to whoever the `Location` names. So a redirect is followed only when its target's origin (scheme, host,
//! port) is one of the client's configured addresses; anything else stops the request with a
//! [`RedirectRefused`], which the client turns into a `BackendError::Redirect`.

use std::sync::Arc;

use reqwest::Url;
use reqwest::redirect::{Attempt, Policy};
use url::Origin;

/// Most redirects one request follows: a standby pointing at the active node takes one; more than this
/// is a loop or a misconfiguration.
pub const MAX_REDIRECT_HOPS: usize = 3;

/// Why a redirect was not followed. Names the target's origin only: never its path or query (they may
/// carry anything), and never a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedirectRefused {
    /// The target is not one of the configured addresses: the token is never sent there.
    #[error("redirect to {target} refused: not a configured address")]
    ForeignOrigin {
        /// The target's origin, e.g. `http://10.0.0.7:8200`.
        target: String,
    },
    /// The chain went on for more than [`MAX_REDIRECT_HOPS`] redirects.
    #[error("redirect to {target} refused: more than {max} redirects")]
    TooManyHops {
        /// The origin the next hop would have gone to.
        target: String,
        /// The cap that was reached.
        max: usize,
    },
}

/// The origins a client may follow redirects to: today the one configured `address`; a cluster's other
/// `addresses` (DESIGN §6) belong here too.
#[derive(Clone, Debug)]
pub struct RedirectGuard {
    allowed: Arc<[Origin]>,
}

impl RedirectGuard {
    /// A guard allowing the origins of `addresses`.
    pub fn new<'a>(addresses: impl IntoIterator<Item = &'a Url>) -> Self {
        Self {
            allowed: addresses.into_iter().map(Url::origin).collect(),
        }
    }

    /// Whether to follow a redirect to `next`, after `hops` redirects already followed in this chain.
    ///
    /// # Errors
    /// [`RedirectRefused`] when `next` is not on an allowed origin or the chain is too long.
    pub fn check(&self, next: &Url, hops: usize) -> Result<(), RedirectRefused> {
        let origin = next.origin();
        // An opaque origin (a non-http(s) scheme) never equals another, so it is refused here too.
        let target = origin.ascii_serialization();
        if !self.allowed.contains(&origin) {
            return Err(RedirectRefused::ForeignOrigin { target });
        }
        if hops >= MAX_REDIRECT_HOPS {
            return Err(RedirectRefused::TooManyHops {
                target,
                max: MAX_REDIRECT_HOPS,
            });
        }
        Ok(())
    }

    /// This guard as reqwest's redirect policy. A refusal fails the request (rather than returning the
    /// 3xx as if it were the answer) and is logged with the target origin.
    pub fn policy(&self) -> Policy {
        let guard = self.clone();
        Policy::custom(move |attempt: Attempt<'_>| {
            // `previous` starts with the original URL: the hops already followed are the rest.
            let hops = attempt.previous().len().saturating_sub(1);
            match guard.check(attempt.url(), hops) {
                Ok(()) => attempt.follow(),
                Err(refused) => {
                    tracing::warn!(
                        error = %refused,
                        status = attempt.status().as_u16(),
                        "backend redirect not followed"
                    );
                    attempt.error(refused)
                }
            }
        })
    }
}

/// The refusal behind a failed request, if a redirect was refused (reqwest wraps it as a source).
pub fn refusal_in(e: &reqwest::Error) -> Option<&RedirectRefused> {
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        if let Some(r) = inner.downcast_ref::<RedirectRefused>() {
            return Some(r);
        }
        src = inner.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn guard(addresses: &[&str]) -> RedirectGuard {
        let urls: Vec<Url> = addresses.iter().map(|a| url(a)).collect();
        RedirectGuard::new(&urls)
    }

    #[test]
    fn a_redirect_to_the_configured_origin_is_followed_whatever_the_path() {
        let g = guard(&["http://127.0.0.1:8200"]);
        assert_eq!(
            g.check(
                &url("http://127.0.0.1:8200/v1/secret/data/x?redirected=1"),
                0
            ),
            Ok(())
        );
        // The default port spelled out is the same origin.
        let g = guard(&["https://bao.example.test"]);
        assert_eq!(
            g.check(&url("https://BAO.example.test:443/v1/sys/health"), 0),
            Ok(())
        );
    }

    #[test]
    fn a_redirect_to_another_host_port_or_scheme_is_refused_naming_only_the_origin() {
        let g = guard(&["http://127.0.0.1:8200"]);
        for (next, origin) in [
            (
                "http://127.0.0.1:8300/v1/secret?token=s.abc",
                "http://127.0.0.1:8300",
            ),
            ("http://localhost:8200/v1/secret", "http://localhost:8200"),
            ("http://10.0.0.7:8200/v1/secret", "http://10.0.0.7:8200"),
            ("https://127.0.0.1:8200/v1/secret", "https://127.0.0.1:8200"),
            (
                "http://user:pass@evil.example.test/v1/x",
                "http://evil.example.test",
            ),
        ] {
            let err = g.check(&url(next), 0).expect_err(next);
            assert_eq!(
                err,
                RedirectRefused::ForeignOrigin {
                    target: origin.into()
                }
            );
            let text = err.to_string();
            assert!(text.contains(origin), "{text}");
            assert!(
                !text.contains("/v1") && !text.contains("token") && !text.contains("pass"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_non_http_target_is_refused() {
        let g = guard(&["http://127.0.0.1:8200"]);
        assert!(matches!(
            g.check(&url("file:///etc/passwd"), 0),
            Err(RedirectRefused::ForeignOrigin { .. })
        ));
    }

    #[test]
    fn any_configured_origin_is_allowed() {
        let g = guard(&["http://127.0.0.1:8200", "http://127.0.0.1:8202"]);
        assert_eq!(g.check(&url("http://127.0.0.1:8202/v1/x"), 0), Ok(()));
        assert!(g.check(&url("http://127.0.0.1:8204/v1/x"), 0).is_err());
    }

    #[test]
    fn the_chain_is_capped() {
        let g = guard(&["http://127.0.0.1:8200"]);
        let next = url("http://127.0.0.1:8200/v1/x");
        assert_eq!(g.check(&next, MAX_REDIRECT_HOPS - 1), Ok(()));
        assert_eq!(
            g.check(&next, MAX_REDIRECT_HOPS),
            Err(RedirectRefused::TooManyHops {
                target: "http://127.0.0.1:8200".into(),
                max: MAX_REDIRECT_HOPS
            })
        );
    }
}
