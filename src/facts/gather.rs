//! Gathering facts from many places at once: each ask is a future the caller makes (a
//! PBX's readiness calls, say), run concurrently and bounded by a deadline, so that one
//! place that does not answer holds no other. No I/O of its own.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// How long one PBX gets to answer the readiness calls.
pub const PBX_DEADLINE: Duration = Duration::from_secs(60);

/// The facts each of `asks` (by name) gives within `deadline`; an ask that gives none (a
/// source that is not a 3CX V20 API) or does not answer in time (logged) is left out.
pub async fn within<T, F>(
    asks: impl IntoIterator<Item = (String, F)>,
    deadline: Duration,
) -> BTreeMap<String, T>
where
    F: Future<Output = Option<T>>,
{
    let asks = asks.into_iter().map(|(name, ask)| async move {
        match tokio::time::timeout(deadline, ask).await {
            Ok(facts) => facts.map(|f| (name, f)),
            Err(_) => {
                tracing::warn!(source = %name, "the PBX did not answer the readiness calls within {}", crate::format::duration(deadline));
                None
            }
        }
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_place_that_does_not_answer_holds_no_other() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Some(1)
        };
        type Ask = std::pin::Pin<Box<dyn Future<Output = Option<u32>>>>;
        let asks: Vec<(String, Ask)> = vec![
            ("hung".into(), Box::pin(slow)),
            ("quick".into(), Box::pin(async { Some(2) })),
            ("silent".into(), Box::pin(async { None })),
        ];
        let got = within(asks, Duration::from_secs(60)).await;
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            [("quick".to_string(), 2)]
        );
    }
}
