//! What invokes functions besides the gateway: the notify endpoint,
//! schedules and queue event sources.

use tokio::sync::mpsc;

use super::app::LocalApp;
use super::backing::{Backing, Runtimes};
use super::{LocalError, LocalOptions, banner, queues, schedules, servers};

/// What invokes functions besides the gateway: the notify endpoint,
/// schedules and queue event sources.
pub(super) struct PushSources {
    notify: Option<servers::HttpApiServer>,
    schedules: schedules::Schedules,
    event_sources: queues::EventSources,
}

impl PushSources {
    pub(super) async fn start(
        app: &LocalApp,
        runtimes: &Runtimes,
        log: &mpsc::UnboundedSender<String>,
        options: &LocalOptions,
        backing: &Backing,
    ) -> Result<Self, LocalError> {
        let notify = servers::serve_http_apis(app, runtimes, log, options.notify_port()).await?;
        let schedules = schedules::start(&app.schedules, runtimes, log, options.schedule_every);
        let event_sources = queues::start(
            &backing.sqs,
            &app.event_sources,
            &app.queues,
            &backing.queue_urls,
            runtimes,
            log,
            (&backing.services.region, options.queue_retry_after),
        );
        Ok(PushSources {
            notify,
            schedules,
            event_sources,
        })
    }

    pub(super) fn banner_lines(&self, secret_file: Option<&std::path::Path>) -> Vec<String> {
        banner::push_lines(
            self.notify.as_ref(),
            &self.schedules,
            &self.event_sources,
            secret_file,
        )
    }

    /// Stops them (schedules and event sources stop when dropped).
    pub(super) fn stop(self) {
        if let Some(notify) = self.notify {
            notify.server.abort();
        }
    }
}
