//! The template's schedules, fired as EventBridge Scheduler fires them:
//! a rate schedule invokes its function with its input every period
//! (asynchronously: the result is only logged). Cron schedules are not
//! fired; their message can be pushed with `chatstack notify --url`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::app::LocalSchedule;
use super::runtime::FunctionRuntime;
use crate::settings::ScheduleExpression;

/// The running schedules, stopped when dropped.
pub struct Schedules {
    tasks: Vec<JoinHandle<()>>,
    /// One line per schedule for the banner.
    pub described: Vec<String>,
}

impl Drop for Schedules {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts firing `schedules`; `every` replaces each rate's period (to try
/// a schedule without waiting an hour).
pub fn start(
    schedules: &[LocalSchedule],
    runtimes: &BTreeMap<String, Arc<FunctionRuntime>>,
    log: &mpsc::UnboundedSender<String>,
    every: Option<Duration>,
) -> Schedules {
    let mut running = Schedules {
        tasks: Vec::new(),
        described: Vec::new(),
    };
    for schedule in schedules {
        let rate = ScheduleExpression::try_from(schedule.expression.clone())
            .ok()
            .and_then(|expression| expression.rate());
        let (Some(rate), Some(runtime)) = (rate, runtimes.get(&schedule.function)) else {
            running.described.push(format!(
                "  Schedule {}: {} is not fired locally (push its message with chatstack notify --url)",
                schedule.logical_id, schedule.expression
            ));
            continue;
        };
        let period = every.unwrap_or(rate);
        running.described.push(format!(
            "  Schedule {}: {}, fired every {} s",
            schedule.logical_id,
            schedule.expression,
            period.as_secs_f64()
        ));
        let (runtime, log, event, name) = (
            runtime.clone(),
            log.clone(),
            schedule.event.clone(),
            schedule.logical_id.clone(),
        );
        running.tasks.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            // The first tick is immediate; Scheduler's first is one period on.
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let outcome = match runtime.invoke(event.clone()).await {
                    Ok(answer) => answer.to_string(),
                    Err(error) => error.to_string(),
                };
                let _ = log.send(format!("schedule     {name}: {outcome}"));
            }
        }));
    }
    running
}
