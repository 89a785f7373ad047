//! Per-partition offset bookkeeping: which offered offsets are finished, the committable
//! watermark, and the finished offsets remembered across a restart.

use std::collections::{BTreeSet, VecDeque};

use crate::record::Offered;

/// One offered record of the window.
#[derive(Debug, Clone, Copy)]
struct Slot {
    offset: i64,
    finished: bool,
}

/// The offsets of one assigned partition.
///
/// The watermark is defined over *offered* records only, so offsets that never reach the
/// scheduler (transaction markers, compacted records) never hold it back: it is the offset of the
/// lowest offered-but-unfinished record, or, when every offered record is finished, the last
/// offered offset + 1 (the restored committed offset before anything is offered).
#[derive(Debug, Default)]
pub(crate) struct PartitionState {
    /// Offered records from the lowest unfinished one up, ascending; the front is unfinished.
    window: VecDeque<Slot>,
    /// The last offered offset + 1, or the restored committed offset; `None` before either.
    next_expected: Option<i64>,
    /// Offsets finished before a restart, above `next_expected`.
    restored_done: BTreeSet<i64>,
    /// Slots ever popped from the window's front: slot number `n` is at `window[n - popped]`
    /// (unless an out-of-order offer was inserted before it).
    popped: u64,
    /// Records offered but not dispatched.
    pub(crate) buffered: usize,
}

/// What [`PartitionState::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Queue the record; pass `slot` back to [`PartitionState::finish`].
    Queue { slot: u64 },
    /// Do not queue it, for this reason.
    Drop(Offered),
}

impl PartitionState {
    /// A partition whose records below `committed` are all finished, as are `finished_beyond`.
    pub(crate) fn restored(committed: i64, finished_beyond: &[i64]) -> Self {
        PartitionState {
            next_expected: Some(committed),
            restored_done: finished_beyond
                .iter()
                .copied()
                .filter(|&o| o > committed)
                .collect(),
            ..Self::default()
        }
    }

    /// Records `offset` as offered, or says why not: see [`Offered`].
    pub(crate) fn admit(&mut self, offset: i64) -> Admission {
        if self.next_expected.is_some_and(|next| offset < next) {
            return match self.find(offset) {
                Ok(i) if self.window[i].finished => Admission::Drop(Offered::AlreadyDone),
                Ok(_) => Admission::Drop(Offered::Duplicate),
                // Never offered, yet below an offered offset: not log order. Queue it rather than
                // risk skipping it; the watermark stays correct as it is above the front.
                Err(i) if i > 0 => {
                    self.window.insert(
                        i,
                        Slot {
                            offset,
                            finished: false,
                        },
                    );
                    Admission::Queue {
                        slot: self.popped + i as u64,
                    }
                }
                // Below the watermark: finished, or never a record.
                Err(_) => Admission::Drop(Offered::AlreadyDone),
            };
        }
        self.next_expected = Some(offset + 1);
        while self.restored_done.first().is_some_and(|&o| o < offset) {
            self.restored_done.pop_first();
        }
        let finished = self.restored_done.first() == Some(&offset);
        if finished {
            self.restored_done.pop_first();
        }
        let slot = self.popped + self.window.len() as u64;
        self.window.push_back(Slot { offset, finished });
        if finished {
            self.advance();
            Admission::Drop(Offered::AlreadyDone)
        } else {
            Admission::Queue { slot }
        }
    }

    /// Marks an offered offset finished; `slot` is what [`admit`](Self::admit) gave for it, a
    /// hint that saves the search.
    pub(crate) fn finish(&mut self, offset: i64, slot: u64) {
        let hinted = slot
            .checked_sub(self.popped)
            .map(|i| i as usize)
            .filter(|&i| self.window.get(i).is_some_and(|s| s.offset == offset));
        if let Some(i) = hinted.or_else(|| self.find(offset).ok()) {
            self.window[i].finished = true;
            self.advance();
        }
    }

    /// The next offset to commit; `None` if nothing was offered or restored.
    pub(crate) fn committable(&self) -> Option<i64> {
        match self.window.front() {
            Some(slot) => Some(slot.offset),
            None => self.next_expected,
        }
    }

    /// Finished offsets above the watermark, ascending.
    pub(crate) fn finished_beyond(&self) -> Vec<i64> {
        self.window
            .iter()
            .filter(|s| s.finished)
            .map(|s| s.offset)
            .chain(self.restored_done.iter().copied())
            .collect()
    }

    /// Offered records from the watermark up, finished or not.
    pub(crate) fn uncommitted(&self) -> usize {
        self.window.len()
    }

    fn find(&self, offset: i64) -> Result<usize, usize> {
        self.window.binary_search_by_key(&offset, |s| s.offset)
    }

    fn advance(&mut self) {
        while self.window.front().is_some_and(|s| s.finished) {
            self.window.pop_front();
            self.popped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Admission, PartitionState};
    use crate::record::Offered;

    fn slot(admission: Admission) -> u64 {
        match admission {
            Admission::Queue { slot } => slot,
            Admission::Drop(why) => panic!("dropped: {why:?}"),
        }
    }

    #[test]
    fn an_offer_out_of_log_order_is_queued_not_skipped() {
        let mut p = PartitionState::default();
        let a = slot(p.admit(10));
        let c = slot(p.admit(12));
        let b = slot(p.admit(11)); // never happens with Kafka; must not be lost if it does
        assert_eq!(p.committable(), Some(10));
        // 12's slot hint is stale now (11 was inserted before it): the search finds it.
        p.finish(12, c);
        p.finish(10, a);
        assert_eq!(p.committable(), Some(11));
        p.finish(11, b);
        assert_eq!(p.committable(), Some(13));
        assert_eq!(p.admit(11), Admission::Drop(Offered::AlreadyDone));
    }

    #[test]
    fn slot_hints_stay_valid_as_the_window_advances() {
        let mut p = PartitionState::default();
        let slots: Vec<u64> = (0..100).map(|o| slot(p.admit(o * 3))).collect();
        for (o, s) in slots.iter().enumerate().rev() {
            p.finish(o as i64 * 3, *s);
        }
        assert_eq!(p.committable(), Some(298));
        assert!(p.finished_beyond().is_empty());
    }
}
