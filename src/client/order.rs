//! A room's messages in `seq` order on a terminal: each shown once, a
//! number that arrives early held until the ones before it come (live, or
//! from a `history` request after the last shown), and a gap the history
//! cannot fill (past its retention) said as a gap.

use std::collections::{BTreeMap, BTreeSet};

/// Messages shown when joining a room that has some.
pub const RECENT: u32 = 20;

/// What to do after a frame: lines to show, and the history to ask for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shown {
    pub lines: Vec<String>,
    pub ask: Option<Ask>,
}

/// A `history` request to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// The messages after this number.
    After(u64),
    /// The last [`RECENT`].
    Recent,
}

/// One room's order.
#[derive(Debug, Default)]
pub struct RoomOrder {
    /// The last number shown (every one before it shown or said gone).
    last: Option<u64>,
    /// Numbers past `last + 1`, waiting for the ones before (`None`: the
    /// client's own message, shown when typed).
    held: BTreeMap<u64, Option<String>>,
    /// A history request is on its way.
    asking: bool,
    /// Asked for the recent messages of a room just joined: they come
    /// before `last`.
    recent: bool,
    /// Numbers said gone that may still arrive (a message numbered but not
    /// yet stored when the history was read): shown if they do.
    gone: BTreeSet<u64>,
    /// The room's last number when the client last joined it.
    expected: u64,
}

/// Gaps larger than this are said, not remembered number by number.
const MOST_REMEMBERED_GONE: u64 = 1_000;

impl RoomOrder {
    /// The answer to the client's join of the room: `last_seq`, the
    /// room's last number. A room seen before asks for what it missed; a
    /// new one starts there, and shows its recent messages.
    pub fn joined(&mut self, last_seq: u64) -> Shown {
        self.expected = last_seq;
        match self.last {
            Some(last) if last_seq > last => self.ask(Ask::After(last)),
            // The room counts from lower than we saw: its numbers started
            // again (a `chatstack local` restarted with a new table).
            Some(last) if last_seq < last => {
                *self = RoomOrder {
                    last: Some(last_seq),
                    expected: last_seq,
                    ..RoomOrder::default()
                };
                Shown::default()
            }
            Some(_) => Shown::default(),
            None => {
                self.last = Some(last_seq);
                if last_seq == 0 {
                    return Shown::default();
                }
                self.recent = true;
                self.ask(Ask::Recent)
            }
        }
    }

    fn ask(&mut self, ask: Ask) -> Shown {
        if self.asking {
            return Shown::default();
        }
        self.asking = true;
        Shown {
            lines: Vec::new(),
            ask: Some(ask),
        }
    }

    /// A message numbered `seq`, read as `line` (`None`: not to show).
    pub fn arrive(&mut self, seq: u64, line: Option<String>) -> Shown {
        let mut shown = Shown::default();
        match self.last {
            None => {
                self.last = Some(seq);
                shown.lines.extend(line);
            }
            Some(last) if seq <= last => {
                if self.gone.remove(&seq) {
                    shown.lines.extend(line.map(|l| format!("{l}  (late)")));
                }
            }
            Some(last) if seq == last + 1 => {
                self.last = Some(seq);
                shown.lines.extend(line);
                self.release(&mut shown);
            }
            Some(last) => {
                self.held.entry(seq).or_insert(line);
                shown.ask = self.ask(Ask::After(last)).ask;
            }
        }
        shown
    }

    /// Shows the held messages that now follow on.
    fn release(&mut self, shown: &mut Shown) {
        while let Some(last) = self.last
            && let Some(line) = self.held.remove(&(last + 1))
        {
            self.last = Some(last + 1);
            shown.lines.extend(line);
        }
    }

    /// The answer to a history request: its `messages` (number and line,
    /// in order), whether `more` remain after `next`. A gap the answer
    /// leaves is gone from the history: said, and passed.
    pub fn answered(
        &mut self,
        room: &str,
        messages: Vec<(u64, Option<String>)>,
        more: bool,
        next: Option<u64>,
    ) -> Shown {
        self.asking = false;
        let mut shown = Shown::default();
        if std::mem::take(&mut self.recent) {
            let before = self.last.unwrap_or(0);
            let earlier: Vec<String> = messages
                .iter()
                .filter(|(seq, _)| *seq <= before)
                .filter_map(|(_, line)| line.clone())
                .collect();
            if !earlier.is_empty() {
                shown.lines.push(format!("* the last messages of #{room}:"));
                shown.lines.extend(earlier);
            }
        }
        for (seq, line) in messages {
            let arrived = self.arrive(seq, line);
            shown.lines.extend(arrived.lines);
        }
        // Those asks were for what this answer holds.
        self.asking = false;
        match (more, next) {
            (true, Some(next)) => {
                shown.ask = self.ask(Ask::After(next.max(self.last.unwrap_or(0)))).ask
            }
            _ => self.pass_gap(room, &mut shown),
        }
        shown
    }

    /// The numbers between `last` and the first held one (or, none held,
    /// the room's last number at the join) are not in the history: says so
    /// and shows what follows.
    fn pass_gap(&mut self, room: &str, shown: &mut Shown) {
        let Some(last) = self.last else {
            return;
        };
        let first = match self.held.keys().next() {
            Some(&first) => first,
            None if self.expected > last => self.expected + 1,
            None => return,
        };
        let missing = first - last - 1;
        let (noun, verb) = if missing == 1 {
            ("message", "is")
        } else {
            ("messages", "are")
        };
        shown.lines.push(format!(
            "* {missing} earlier {noun} of #{room} {verb} no longer kept"
        ));
        if missing <= MOST_REMEMBERED_GONE {
            self.gone.extend(last + 1..first);
        }
        self.last = Some(first - 1);
        self.release(shown);
    }

    /// A new connection: a history request in flight on the old one will
    /// not be answered.
    pub fn reconnected(&mut self) {
        self.asking = false;
        self.recent = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn messages_show_in_number_order_once_whatever_order_they_come_in() {
        let mut order = RoomOrder::default();
        assert_eq!(
            order.joined(4),
            Shown {
                lines: vec![],
                ask: Some(Ask::Recent)
            }
        );
        let recent = order.answered("r", vec![(3, line("three")), (4, line("four"))], true, None);
        assert_eq!(
            recent.lines,
            ["* the last messages of #r:", "three", "four"]
        );
        assert_eq!(order.arrive(5, line("five")).lines, ["five"]);
        // 7 before 6: held, and the history after 5 asked for.
        let early = order.arrive(7, line("seven"));
        assert_eq!(
            early,
            Shown {
                lines: vec![],
                ask: Some(Ask::After(5))
            }
        );
        assert_eq!(order.arrive(8, line("eight")).ask, None, "asked once");
        assert_eq!(
            order.arrive(6, line("six")).lines,
            ["six", "seven", "eight"]
        );
        assert!(order.arrive(6, line("six")).lines.is_empty(), "a duplicate");
        // The history answer repeats what came live: nothing twice.
        let answer = order.answered("r", vec![(6, line("six")), (7, line("seven"))], false, None);
        assert!(answer.lines.is_empty(), "{answer:?}");
        // Its own messages keep their place without being shown again.
        assert!(order.arrive(9, None).lines.is_empty());
        assert_eq!(order.arrive(10, line("ten")).lines, ["ten"]);
    }

    #[test]
    fn a_reconnect_catches_up_after_the_last_shown_and_a_gap_past_retention_is_said() {
        let mut order = RoomOrder::default();
        order.joined(0);
        assert_eq!(order.arrive(1, line("one")).lines, ["one"]);
        order.reconnected();
        assert_eq!(order.joined(9).ask, Some(Ask::After(1)));
        // 2 to 4 expired; more remain after 6.
        let first = order.answered(
            "r",
            vec![(5, line("five")), (6, line("six"))],
            true,
            Some(6),
        );
        assert_eq!(first.ask, Some(Ask::After(6)));
        assert!(
            first.lines.is_empty(),
            "held until the answers end: {first:?}"
        );
        let rest = order.answered("r", vec![(7, line("seven"))], false, None);
        assert_eq!(
            rest.lines,
            [
                "* 3 earlier messages of #r are no longer kept",
                "five",
                "six",
                "seven"
            ]
        );
        // Away again, and everything said meanwhile expired.
        order.reconnected();
        assert_eq!(order.joined(12).ask, Some(Ask::After(7)));
        let nothing = order.answered("r", vec![], false, None);
        assert_eq!(
            nothing.lines,
            ["* 5 earlier messages of #r are no longer kept"]
        );
        assert_eq!(order.arrive(13, line("thirteen")).lines, ["thirteen"]);
        // One said gone that arrives after all is shown, marked.
        assert_eq!(order.arrive(3, line("three")).lines, ["three  (late)"]);
        assert!(order.arrive(3, line("three")).lines.is_empty());
        assert_eq!(order.joined(13).ask, None, "nothing missed");
        // A room whose numbers started again is followed from its new last.
        assert_eq!(order.joined(2), Shown::default());
        assert_eq!(order.arrive(3, line("new three")).lines, ["new three"]);
        assert!(order.answered("r", vec![], false, None).lines.is_empty());
    }
}
