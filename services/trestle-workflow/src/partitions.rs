//! The partitions a session owns and what it keeps for each: paused or not, the commit point
//! last committed, finished records' outputs not yet published, and which assignment it is.

use std::collections::BTreeMap;

use trestle_scheduler::CommitPoint;

use crate::commit::Output;

/// One owned partition.
pub(crate) struct Partition {
    /// Fetching is paused (its scheduler buffer is full).
    pub paused: bool,
    /// The commit point of the last commit (or of the assignment).
    pub committed: Option<CommitPoint>,
    /// Finished records' outputs, in finishing order, not yet in a commit.
    pub unpublished: Vec<Output>,
    /// Which assignment this is: a batch taken under an earlier one (before a revocation) must
    /// not give its outputs back, even if the partition was assigned again since.
    pub epoch: u64,
}

/// Every partition the session owns, by number.
#[derive(Default)]
pub(crate) struct Partitions {
    owned: BTreeMap<i32, Partition>,
    /// Assignments so far; each gets the next number as its epoch.
    assignments: u64,
}

impl Partitions {
    /// Takes `partition` on (kept as it is if already owned) with its committed point.
    pub(crate) fn assign(&mut self, partition: i32, committed: Option<CommitPoint>) {
        let assignments = &mut self.assignments;
        let state = self.owned.entry(partition).or_insert_with(|| {
            *assignments += 1;
            Partition {
                paused: false,
                committed: None,
                unpublished: Vec::new(),
                epoch: *assignments,
            }
        });
        if committed.is_some() {
            state.committed = committed;
        }
    }

    /// Gives `partition` up, with its unpublished outputs.
    pub(crate) fn revoke(&mut self, partition: i32) -> Option<Partition> {
        self.owned.remove(&partition)
    }

    pub(crate) fn get(&self, partition: i32) -> Option<&Partition> {
        self.owned.get(&partition)
    }

    pub(crate) fn get_mut(&mut self, partition: i32) -> Option<&mut Partition> {
        self.owned.get_mut(&partition)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (i32, &Partition)> {
        self.owned.iter().map(|(p, state)| (*p, state))
    }

    /// The paused partitions.
    pub(crate) fn paused(&self) -> Vec<i32> {
        self.iter()
            .filter(|(_, state)| state.paused)
            .map(|(p, _)| p)
            .collect()
    }

    /// Outputs waiting for a commit, all partitions.
    pub(crate) fn unpublished_count(&self) -> usize {
        self.owned.values().map(|s| s.unpublished.len()).sum()
    }

    /// Every partition's unpublished outputs, for a commit.
    pub(crate) fn take_unpublished(&mut self) -> BTreeMap<i32, Vec<Output>> {
        self.owned
            .iter_mut()
            .filter(|(_, state)| !state.unpublished.is_empty())
            .map(|(p, state)| (*p, std::mem::take(&mut state.unpublished)))
            .collect()
    }

    /// Each owned partition's epoch, for a commit.
    pub(crate) fn epochs(&self) -> BTreeMap<i32, u64> {
        self.iter().map(|(p, state)| (p, state.epoch)).collect()
    }

    /// Whether `partition` is still owned in the assignment of `epoch`.
    fn current(&self, partition: i32, epochs: &BTreeMap<i32, u64>) -> Option<&Partition> {
        let state = self.owned.get(&partition)?;
        (epochs.get(&partition) == Some(&state.epoch)).then_some(state)
    }

    /// A commit went through: its points are the committed ones of partitions still owned in
    /// the same assignment.
    pub(crate) fn committed(
        &mut self,
        points: Vec<(i32, CommitPoint)>,
        epochs: &BTreeMap<i32, u64>,
    ) {
        for (p, point) in points {
            if self.current(p, epochs).is_some() {
                if let Some(state) = self.owned.get_mut(&p) {
                    state.committed = Some(point);
                }
            }
        }
    }

    /// A commit failed: the outputs of partitions still owned in the same assignment go back,
    /// before what finished meanwhile.
    pub(crate) fn give_back(
        &mut self,
        outputs: BTreeMap<i32, Vec<Output>>,
        epochs: &BTreeMap<i32, u64>,
    ) {
        for (p, mut earlier) in outputs {
            if self.current(p, epochs).is_none() {
                continue;
            }
            if let Some(state) = self.owned.get_mut(&p) {
                earlier.append(&mut state.unpublished);
                state.unpublished = earlier;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(n: u8) -> Output {
        Output::Encoded {
            topic: "t".into(),
            key: "k".into(),
            payload: vec![n],
        }
    }

    fn payloads(partitions: &Partitions, p: i32) -> Vec<u8> {
        let state = partitions.get(p).unwrap();
        state
            .unpublished
            .iter()
            .map(|o| match o {
                Output::Encoded { payload, .. } => payload[0],
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn a_failed_commit_gives_outputs_back_before_later_ones() {
        let mut partitions = Partitions::default();
        partitions.assign(0, None);
        partitions.get_mut(0).unwrap().unpublished.push(output(1));
        let epochs = partitions.epochs();
        let taken = partitions.take_unpublished();
        assert_eq!(partitions.unpublished_count(), 0);
        partitions.get_mut(0).unwrap().unpublished.push(output(2));
        partitions.give_back(taken, &epochs);
        assert_eq!(payloads(&partitions, 0), vec![1, 2]);
        assert_eq!(partitions.unpublished_count(), 2);
    }

    #[test]
    fn a_partition_revoked_and_assigned_again_gets_nothing_back_from_before() {
        let mut partitions = Partitions::default();
        partitions.assign(0, None);
        partitions.get_mut(0).unwrap().unpublished.push(output(1));
        let epochs = partitions.epochs();
        let taken = partitions.take_unpublished();
        partitions.revoke(0);
        partitions.assign(0, None);
        partitions.give_back(taken, &epochs);
        partitions.committed(
            vec![(
                0,
                CommitPoint {
                    offset: 5,
                    metadata: String::new(),
                },
            )],
            &epochs,
        );
        assert_eq!(partitions.unpublished_count(), 0);
        assert_eq!(partitions.get(0).unwrap().committed, None);
    }
}
