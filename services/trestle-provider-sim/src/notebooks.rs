//! Simulated notebooks (a NotebookLM-style service) per cloud project: state, limits and the
//! deterministic extractive answers. Pure logic over a clock the caller passes in; the HTTP
//! surface is `notebook_api.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::api::Usage;
use crate::text;

/// How the notebook service of one cloud project behaves; set in config
/// (`notebooks`, `notebook_projects`) or at run time with `PUT /admin/projects/{project}/notebooks`.
/// A `PUT` replaces the whole behaviour: fields left out take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotebookBehaviour {
    /// Notebooks a project may hold (creating or ready); one more answers 409 `notebook_limit`.
    pub notebooks_per_project: u32,
    /// Sources a notebook may hold; one more answers 409 `source_limit`.
    pub sources_per_notebook: u32,
    /// Queries a project may answer per UTC day; beyond, 429 `quota_exhausted` with
    /// `Retry-After` until midnight UTC. `None` = unlimited.
    pub queries_per_day: Option<u32>,
    /// Time from creation until a notebook is `ready` (the seed: 5–10 minutes, scaled down
    /// here); until then sources and queries answer 409 `not_ready` with `Retry-After`.
    pub create_latency_ms: u64,
    /// Uniform extra creation time, 0..=create_jitter_ms.
    pub create_jitter_ms: u64,
    /// Time every answered query takes.
    pub query_latency_ms: u64,
    /// Fraction (0.0–1.0) of notebook API calls answered 503, before any state changes.
    pub failure_rate: f64,
    /// Every notebook API call answers 503 (an outage).
    pub outage: bool,
}

impl Default for NotebookBehaviour {
    fn default() -> Self {
        NotebookBehaviour {
            notebooks_per_project: 50_000,
            sources_per_notebook: 300,
            queries_per_day: None,
            create_latency_ms: 0,
            create_jitter_ms: 0,
            query_latency_ms: 0,
            failure_rate: 0.0,
            outage: false,
        }
    }
}

/// Whether a notebook can take sources and queries yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotebookState {
    Creating,
    Ready,
}

/// A notebook as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notebook {
    pub id: String,
    pub project: String,
    pub title: String,
    pub labels: BTreeMap<String, String>,
    pub state: NotebookState,
    pub source_count: u32,
}

/// A source as the API lists it (without its text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub id: String,
    pub title: String,
    /// Length of the text in characters.
    pub chars: u64,
}

/// One sentence an answer used, and the source it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    pub source_id: String,
    pub sentence: String,
}

/// The answer to a notebook query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryResponse {
    pub answer: String,
    pub citations: Vec<Citation>,
    pub usage: Usage,
}

/// One project's totals, for tests and operators (`GET /admin/notebooks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectCounts {
    pub notebooks: u32,
    pub sources: u64,
    pub queries_today: u32,
    pub queries_total: u64,
}

/// One notebook and the ids of its sources, in the order added (`GET /admin/notebooks/{project}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotebookSources {
    pub id: String,
    pub state: NotebookState,
    pub source_ids: Vec<String>,
}

/// Sentences an answer is made of, at most.
pub const ANSWER_SENTENCES: usize = 3;

/// What an answer says when no sentence of the sources matches the question.
pub const NO_ANSWER: &str = "The sources do not answer this question.";

/// The time for one decision: a monotonic instant for latencies, the wall clock for the UTC day.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    pub(crate) instant: Instant,
    pub(crate) unix_secs: u64,
}

impl Now {
    pub(crate) fn real() -> Now {
        Now {
            instant: Instant::now(),
            unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    fn day(&self) -> u64 {
        self.unix_secs / 86_400
    }

    fn until_midnight_utc(&self) -> Duration {
        Duration::from_secs(86_400 - self.unix_secs % 86_400)
    }
}

/// Why a call was refused. Every refusal is decided before any state changes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    /// A simulated failure (`outage: false`) or an outage.
    Unavailable {
        outage: bool,
    },
    NotebookNotFound,
    NotReady {
        retry_after: Duration,
    },
    NotebookLimit {
        limit: u32,
    },
    SourceLimit {
        limit: u32,
    },
    UnknownSources(Vec<String>),
    QuotaExhausted {
        limit: u32,
        retry_after: Duration,
    },
}

/// A source's text, shared so a query can read it outside the lock.
#[derive(Debug, PartialEq)]
pub(crate) struct Source {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) text: String,
}

#[derive(Debug)]
struct Entry {
    title: String,
    labels: BTreeMap<String, String>,
    ready_at: Instant,
    /// In the order added; the order breaks ties between equally good sentences.
    sources: Vec<Arc<Source>>,
}

impl Entry {
    fn state(&self, now: Now) -> NotebookState {
        if now.instant >= self.ready_at {
            NotebookState::Ready
        } else {
            NotebookState::Creating
        }
    }

    fn ready(&self, now: Now) -> Result<(), Refusal> {
        match self.state(now) {
            NotebookState::Ready => Ok(()),
            NotebookState::Creating => Err(Refusal::NotReady {
                retry_after: self.ready_at.duration_since(now.instant),
            }),
        }
    }
}

#[derive(Debug, Default)]
struct Project {
    notebooks: BTreeMap<String, Entry>,
    /// The UTC day (days since the epoch) and the queries answered in it.
    queries_day: (u64, u32),
    queries_total: u64,
}

impl Project {
    fn queries_today(&self, now: Now) -> u32 {
        if self.queries_day.0 == now.day() {
            self.queries_day.1
        } else {
            0
        }
    }
}

/// Every project's notebooks and behaviour.
#[derive(Debug)]
pub(crate) struct Notebooks {
    default: NotebookBehaviour,
    behaviours: BTreeMap<String, NotebookBehaviour>,
    projects: BTreeMap<String, Project>,
}

impl Notebooks {
    pub(crate) fn new(
        default: NotebookBehaviour,
        projects: BTreeMap<String, NotebookBehaviour>,
    ) -> Self {
        Notebooks {
            default,
            behaviours: projects,
            projects: BTreeMap::new(),
        }
    }

    /// The behaviour in force for `project`.
    pub(crate) fn behaviour(&self, project: &str) -> &NotebookBehaviour {
        self.behaviours.get(project).unwrap_or(&self.default)
    }

    /// Replaces `project`'s behaviour; notebooks and sources already there stay.
    pub(crate) fn set_behaviour(&mut self, project: &str, behaviour: NotebookBehaviour) {
        self.behaviours.insert(project.to_string(), behaviour);
    }

    /// Rolls the dice for one call: an outage or a simulated failure refuses it.
    pub(crate) fn fault(&self, project: &str) -> Result<(), Refusal> {
        let b = self.behaviour(project);
        if b.outage {
            Err(Refusal::Unavailable { outage: true })
        } else if b.failure_rate > 0.0 && fastrand::f64() < b.failure_rate {
            Err(Refusal::Unavailable { outage: false })
        } else {
            Ok(())
        }
    }

    /// Creates notebook `id`, or finds it: the bool says whether it was created. An existing
    /// notebook takes the new title and labels and keeps its state and sources, so a retried
    /// create never makes a second notebook nor restarts the creation.
    pub(crate) fn create(
        &mut self,
        project: &str,
        id: &str,
        title: String,
        labels: BTreeMap<String, String>,
        now: Now,
    ) -> Result<(Notebook, bool), Refusal> {
        let b = self.behaviour(project).clone();
        let p = self.projects.entry(project.to_string()).or_default();
        let created = match p.notebooks.get_mut(id) {
            Some(entry) => {
                entry.title = title;
                entry.labels = labels;
                false
            }
            None => {
                if p.notebooks.len() >= b.notebooks_per_project as usize {
                    return Err(Refusal::NotebookLimit {
                        limit: b.notebooks_per_project,
                    });
                }
                let latency = b.create_latency_ms + fastrand::u64(0..=b.create_jitter_ms);
                p.notebooks.insert(
                    id.to_string(),
                    Entry {
                        title,
                        labels,
                        ready_at: now.instant + Duration::from_millis(latency),
                        sources: Vec::new(),
                    },
                );
                true
            }
        };
        let notebook = self.get(project, id, now).expect("the notebook is there");
        Ok((notebook, created))
    }

    pub(crate) fn get(&self, project: &str, id: &str, now: Now) -> Option<Notebook> {
        let entry = self.projects.get(project)?.notebooks.get(id)?;
        Some(Notebook {
            id: id.to_string(),
            project: project.to_string(),
            title: entry.title.clone(),
            labels: entry.labels.clone(),
            state: entry.state(now),
            source_count: entry.sources.len() as u32,
        })
    }

    /// Deletes notebook `id` and its sources; says whether it was there.
    pub(crate) fn delete(&mut self, project: &str, id: &str) -> bool {
        self.projects
            .get_mut(project)
            .is_some_and(|p| p.notebooks.remove(id).is_some())
    }

    fn entry(&self, project: &str, id: &str) -> Result<&Entry, Refusal> {
        self.projects
            .get(project)
            .and_then(|p| p.notebooks.get(id))
            .ok_or(Refusal::NotebookNotFound)
    }

    fn entry_mut(&mut self, project: &str, id: &str) -> Result<&mut Entry, Refusal> {
        self.projects
            .get_mut(project)
            .and_then(|p| p.notebooks.get_mut(id))
            .ok_or(Refusal::NotebookNotFound)
    }

    /// Adds source `source_id` to a ready notebook, or replaces its title and text if the id is
    /// there already (keeping its place): the bool says whether it was added.
    pub(crate) fn put_source(
        &mut self,
        project: &str,
        id: &str,
        source_id: &str,
        title: String,
        text: String,
        now: Now,
    ) -> Result<(SourceInfo, bool), Refusal> {
        let limit = self.behaviour(project).sources_per_notebook;
        let entry = self.entry_mut(project, id)?;
        entry.ready(now)?;
        let source = Arc::new(Source {
            id: source_id.to_string(),
            title,
            text,
        });
        let info = info(&source);
        if let Some(existing) = entry.sources.iter_mut().find(|s| s.id == source_id) {
            *existing = source;
            return Ok((info, false));
        }
        if entry.sources.len() >= limit as usize {
            return Err(Refusal::SourceLimit { limit });
        }
        entry.sources.push(source);
        Ok((info, true))
    }

    /// The sources of a notebook, in the order added.
    pub(crate) fn sources(&self, project: &str, id: &str) -> Result<Vec<SourceInfo>, Refusal> {
        Ok(self
            .entry(project, id)?
            .sources
            .iter()
            .map(|s| info(s))
            .collect())
    }

    /// Deletes a source; says whether it was there (an absent notebook has no sources).
    pub(crate) fn delete_source(&mut self, project: &str, id: &str, source_id: &str) -> bool {
        match self.entry_mut(project, id) {
            Ok(entry) => {
                let before = entry.sources.len();
                entry.sources.retain(|s| s.id != source_id);
                entry.sources.len() < before
            }
            Err(_) => false,
        }
    }

    /// Admits one query: checks the notebook, the filter and the day's quota, counts the query
    /// and hands back the sources to answer from (all of them, or those in `filter`, in the
    /// order added). The answer itself is [`answer`], computed outside the lock.
    pub(crate) fn admit_query(
        &mut self,
        project: &str,
        id: &str,
        filter: Option<&[String]>,
        now: Now,
    ) -> Result<Vec<Arc<Source>>, Refusal> {
        let quota = self.behaviour(project).queries_per_day;
        let entry = self.entry(project, id)?;
        entry.ready(now)?;
        let sources: Vec<Arc<Source>> = match filter {
            None => entry.sources.clone(),
            Some(ids) => {
                let unknown: Vec<String> = ids
                    .iter()
                    .filter(|want| !entry.sources.iter().any(|s| &s.id == *want))
                    .cloned()
                    .collect();
                if !unknown.is_empty() {
                    return Err(Refusal::UnknownSources(unknown));
                }
                let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
                entry
                    .sources
                    .iter()
                    .filter(|s| wanted.contains(s.id.as_str()))
                    .cloned()
                    .collect()
            }
        };
        let p = self.projects.get_mut(project).expect("the entry was found");
        let today = p.queries_today(now);
        if let Some(limit) = quota {
            if today >= limit {
                return Err(Refusal::QuotaExhausted {
                    limit,
                    retry_after: now.until_midnight_utc(),
                });
            }
        }
        p.queries_day = (now.day(), today + 1);
        p.queries_total += 1;
        Ok(sources)
    }

    /// Totals per project that holds notebooks or has answered queries.
    pub(crate) fn counts(&self, now: Now) -> BTreeMap<String, ProjectCounts> {
        self.projects
            .iter()
            .map(|(name, p)| {
                let counts = ProjectCounts {
                    notebooks: p.notebooks.len() as u32,
                    sources: p.notebooks.values().map(|e| e.sources.len() as u64).sum(),
                    queries_today: p.queries_today(now),
                    queries_total: p.queries_total,
                };
                (name.clone(), counts)
            })
            .collect()
    }

    /// A project's notebooks with their source ids, by notebook id.
    pub(crate) fn listing(&self, project: &str, now: Now) -> Vec<NotebookSources> {
        self.projects
            .get(project)
            .map(|p| {
                p.notebooks
                    .iter()
                    .map(|(id, e)| NotebookSources {
                        id: id.clone(),
                        state: e.state(now),
                        source_ids: e.sources.iter().map(|s| s.id.clone()).collect(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn info(source: &Source) -> SourceInfo {
    SourceInfo {
        id: source.id.clone(),
        title: source.title.clone(),
        chars: source.text.chars().count() as u64,
    }
}

/// The deterministic extractive answer to `question` from `sources`: the (at most
/// [`ANSWER_SENTENCES`]) sentences sharing the most distinct content words with the question,
/// best first, ties broken by source order then sentence order; each is cited with its source.
/// Without a matching sentence the answer is [`NO_ANSWER`] and nothing is cited.
///
/// Usage: prompt tokens are the question's and the cited sentences' words (the context a RAG
/// prompt would carry), completion tokens the answer's.
pub(crate) fn answer(question: &str, sources: &[Arc<Source>]) -> QueryResponse {
    let asked: BTreeSet<String> = text::content_words(question).collect();
    let mut scored: Vec<(usize, &Source, &str)> = Vec::new();
    if !asked.is_empty() {
        for source in sources {
            for sentence in text::sentences(&source.text) {
                let words: BTreeSet<String> = text::content_words(sentence).collect();
                let score = asked.intersection(&words).count();
                if score > 0 {
                    scored.push((score, source, sentence));
                }
            }
        }
    }
    // A stable sort keeps source then sentence order among equal scores.
    scored.sort_by_key(|(score, _, _)| std::cmp::Reverse(*score));
    scored.truncate(ANSWER_SENTENCES);
    let citations: Vec<Citation> = scored
        .iter()
        .map(|(_, source, sentence)| Citation {
            source_id: source.id.clone(),
            sentence: sentence.to_string(),
        })
        .collect();
    let answer = if citations.is_empty() {
        NO_ANSWER.to_string()
    } else {
        citations
            .iter()
            .map(|c| c.sentence.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let prompt_tokens = text::token_count(question)
        + citations
            .iter()
            .map(|c| text::token_count(&c.sentence))
            .sum::<u64>();
    let completion_tokens = text::token_count(&answer);
    QueryResponse {
        answer,
        citations,
        usage: Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(id: &str, text: &str) -> Arc<Source> {
        Arc::new(Source {
            id: id.into(),
            title: id.into(),
            text: text.into(),
        })
    }

    fn now() -> Now {
        Now {
            instant: Instant::now(),
            unix_secs: 20_000 * 86_400 + 3_600,
        }
    }

    fn sentences(r: &QueryResponse) -> Vec<(&str, &str)> {
        r.citations
            .iter()
            .map(|c| (c.source_id.as_str(), c.sentence.as_str()))
            .collect()
    }

    #[test]
    fn answers_with_the_best_matching_sentences_best_first_and_cites_their_sources() {
        let sources = [
            source(
                "acme/job-1/spec",
                "The slab is 8 inches thick. Rebar is #5 at 12 inches.",
            ),
            source(
                "acme/job-2/spec",
                "The level 3 slab pour is on Tuesday. Curing takes 7 days.",
            ),
        ];
        let r = answer("When is the level 3 slab pour?", &sources);
        assert_eq!(
            sentences(&r),
            vec![
                ("acme/job-2/spec", "The level 3 slab pour is on Tuesday."),
                ("acme/job-1/spec", "The slab is 8 inches thick."),
            ]
        );
        assert_eq!(
            r.answer,
            "The level 3 slab pour is on Tuesday. The slab is 8 inches thick."
        );
        assert!(r.usage.prompt_tokens > r.usage.completion_tokens);
        assert_eq!(
            r.usage.total_tokens,
            r.usage.prompt_tokens + r.usage.completion_tokens
        );
    }

    #[test]
    fn ties_go_to_the_earlier_source_then_the_earlier_sentence_and_at_most_three_are_used() {
        let sources = [
            source("b", "Rebar one. Rebar two."),
            source("a", "Rebar three. Rebar four."),
        ];
        let r = answer("rebar", &sources);
        assert_eq!(
            sentences(&r),
            vec![
                ("b", "Rebar one."),
                ("b", "Rebar two."),
                ("a", "Rebar three.")
            ]
        );
    }

    #[test]
    fn a_question_matching_nothing_or_only_stop_words_cites_nothing() {
        let sources = [source("a", "The slab is 8 inches thick.")];
        for q in ["Who signed the electrical permit?", "what is the", ""] {
            let r = answer(q, &sources);
            assert_eq!(r.answer, NO_ANSWER, "{q}");
            assert!(r.citations.is_empty());
        }
        assert_eq!(answer("slab", &[]).answer, NO_ANSWER);
    }

    #[test]
    fn the_same_question_always_gets_the_same_answer() {
        let sources = [source("a", "Pour at dawn. Pour the slab. Slab cures.")];
        let first = answer("pour slab", &sources);
        for _ in 0..5 {
            assert_eq!(answer("pour slab", &sources).citations, first.citations);
        }
    }

    fn notebooks(b: NotebookBehaviour) -> Notebooks {
        Notebooks::new(b, BTreeMap::new())
    }

    #[test]
    fn a_retried_create_finds_the_notebook_even_when_the_project_is_full() {
        let mut n = notebooks(NotebookBehaviour {
            notebooks_per_project: 1,
            ..Default::default()
        });
        let t = now();
        assert!(
            n.create("p", "nb", "A".into(), BTreeMap::new(), t)
                .unwrap()
                .1
        );
        let (again, created) = n.create("p", "nb", "B".into(), BTreeMap::new(), t).unwrap();
        assert!(!created);
        assert_eq!(again.title, "B");
        assert_eq!(
            n.create("p", "other", "C".into(), BTreeMap::new(), t),
            Err(Refusal::NotebookLimit { limit: 1 })
        );
        // Another project has its own limit.
        assert!(n
            .create("q", "other", "C".into(), BTreeMap::new(), t)
            .is_ok());
        assert_eq!(n.counts(t)["p"].notebooks, 1);
    }

    #[test]
    fn sources_are_refused_at_the_limit_but_a_retry_of_one_there_replaces_it() {
        let mut n = notebooks(NotebookBehaviour {
            sources_per_notebook: 1,
            ..Default::default()
        });
        let t = now();
        n.create("p", "nb", "A".into(), BTreeMap::new(), t).unwrap();
        let put = |n: &mut Notebooks, id: &str, text: &str| {
            n.put_source("p", "nb", id, id.into(), text.into(), t)
        };
        assert!(put(&mut n, "s1", "one").unwrap().1);
        assert_eq!(
            put(&mut n, "s2", "two"),
            Err(Refusal::SourceLimit { limit: 1 })
        );
        let (info, added) = put(&mut n, "s1", "one, again").unwrap();
        assert!(!added);
        assert_eq!(info.chars, 10);
        assert_eq!(n.sources("p", "nb").unwrap().len(), 1);
        assert_eq!(
            n.put_source("p", "none", "s", "s".into(), "x".into(), t),
            Err(Refusal::NotebookNotFound)
        );
    }

    #[test]
    fn a_creating_notebook_refuses_sources_and_queries_until_ready() {
        let mut n = notebooks(NotebookBehaviour {
            create_latency_ms: 60_000,
            ..Default::default()
        });
        let t = now();
        let (nb, _) = n.create("p", "nb", "A".into(), BTreeMap::new(), t).unwrap();
        assert_eq!(nb.state, NotebookState::Creating);
        assert!(matches!(
            n.put_source("p", "nb", "s", "s".into(), "x".into(), t),
            Err(Refusal::NotReady { retry_after }) if retry_after == Duration::from_secs(60)
        ));
        assert!(matches!(
            n.admit_query("p", "nb", None, t),
            Err(Refusal::NotReady { .. })
        ));
        let later = Now {
            instant: t.instant + Duration::from_secs(60),
            ..t
        };
        assert_eq!(n.get("p", "nb", later).unwrap().state, NotebookState::Ready);
        assert!(n
            .put_source("p", "nb", "s", "s".into(), "x".into(), later)
            .is_ok());
        assert_eq!(n.counts(later)["p"].queries_total, 0);
    }

    #[test]
    fn the_daily_quota_refuses_until_midnight_utc_and_resets_the_next_day() {
        let mut n = notebooks(NotebookBehaviour {
            queries_per_day: Some(2),
            ..Default::default()
        });
        let t = now();
        n.create("p", "nb", "A".into(), BTreeMap::new(), t).unwrap();
        assert!(n.admit_query("p", "nb", None, t).is_ok());
        assert!(n.admit_query("p", "nb", None, t).is_ok());
        assert_eq!(
            n.admit_query("p", "nb", None, t),
            Err(Refusal::QuotaExhausted {
                limit: 2,
                retry_after: Duration::from_secs(86_400 - 3_600)
            })
        );
        assert_eq!(n.counts(t)["p"].queries_today, 2);
        let tomorrow = Now {
            unix_secs: t.unix_secs + 86_400,
            ..t
        };
        assert_eq!(n.counts(tomorrow)["p"].queries_today, 0);
        assert!(n.admit_query("p", "nb", None, tomorrow).is_ok());
        assert_eq!(n.counts(tomorrow)["p"].queries_total, 3);
    }

    #[test]
    fn a_filter_naming_an_unknown_source_is_refused_without_counting() {
        let mut n = notebooks(NotebookBehaviour::default());
        let t = now();
        n.create("p", "nb", "A".into(), BTreeMap::new(), t).unwrap();
        for id in ["s1", "s2"] {
            n.put_source("p", "nb", id, id.into(), "x".into(), t)
                .unwrap();
        }
        let filter = ["s2".to_string(), "gone".to_string()];
        assert_eq!(
            n.admit_query("p", "nb", Some(&filter), t),
            Err(Refusal::UnknownSources(vec!["gone".into()]))
        );
        let got = n.admit_query("p", "nb", Some(&filter[..1]), t).unwrap();
        assert_eq!(
            got.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["s2"]
        );
        assert_eq!(n.counts(t)["p"].queries_total, 1);
    }

    #[test]
    fn an_outage_or_a_certain_failure_refuses_every_call() {
        let mut n = notebooks(NotebookBehaviour::default());
        assert_eq!(n.fault("p"), Ok(()));
        n.set_behaviour(
            "p",
            NotebookBehaviour {
                failure_rate: 1.0,
                ..Default::default()
            },
        );
        assert_eq!(n.fault("p"), Err(Refusal::Unavailable { outage: false }));
        n.set_behaviour(
            "p",
            NotebookBehaviour {
                outage: true,
                ..Default::default()
            },
        );
        assert_eq!(n.fault("p"), Err(Refusal::Unavailable { outage: true }));
        assert_eq!(n.fault("q"), Ok(()));
    }
}
