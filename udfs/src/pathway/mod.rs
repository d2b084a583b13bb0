//! Case pathways: which stage an event marks (`pathway_stage`) and the sequence of stages a case
//! went through (`case_pathway`, `case_pathway_detail`), or of case types a person went through
//! (`person_pathway`). The stages and their ranks are design/FUNCTIONS.md's table.

pub mod case_journey;
pub mod case_journey_detail;
pub mod case_pathway;
pub mod case_pathway_detail;
pub mod dated_codes;
pub mod pathway_stage;
pub mod person_pathway;

/// Every stage in one global rank order. Each case type's own stages appear in the order
/// FUNCTIONS.md gives them, so one table ranks every type; the stages any case can reach
/// (withdrawn, refused, no_order, reopened, closed) rank after the types' own.
pub const STAGES: &[&str] = &[
    "issue",
    "application",
    "without_notice_order",
    "interim_order",
    "placement_order",
    "cmh",
    "fhdra",
    "fcmh",
    "fact_finding",
    "irh",
    "dra",
    "return_hearing",
    "conditional_order",
    "final_hearing",
    "final_order",
    "adoption_order",
    "withdrawn",
    "refused",
    "no_order",
    "reopened",
    "closed",
];

/// Rank of a stage; stages fjq does not know (a user's own labels) rank after all known ones.
pub fn stage_rank(stage: &str) -> u32 {
    STAGES
        .iter()
        .position(|s| *s == stage)
        .unwrap_or(STAGES.len()) as u32
}

/// Cafcass's work types (`cafcass_work.work_type`), each with the court stage that calls for it:
/// on the same day a piece of work ranks just after that stage (the safeguarding letter after
/// the application, a children's guardian after issue, the FHDRA attendance after the FHDRA, a
/// section 7 report after the fact-finding hearing).
pub const CAFCASS_WORK: &[(&str, &str)] = &[
    ("safeguarding_letter", "application"),
    ("childrens_guardian_s41", "issue"),
    ("enforcement", "application"),
    ("fhdra_attendance", "fhdra"),
    ("s7_report", "fact_finding"),
    ("rule_16_4_guardian", "fact_finding"),
    ("further_work", "fact_finding"),
];

/// A journey step as shown (Cafcass work in brackets, court stages as they are) and its rank:
/// twice the stage's rank for a court stage, one more than its stage's for a piece of work.
/// Bracketed names come back unchanged, so partial results merge.
pub fn journey_step(step: &str) -> (String, u32) {
    let bare = step
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(step);
    match CAFCASS_WORK.iter().find(|(work, _)| *work == bare) {
        Some((work, after)) => (format!("[{work}]"), 2 * stage_rank(after) + 1),
        None => (step.to_string(), 2 * stage_rank(step)),
    }
}

/// The stage an event marks, or None. `disposal_type` tells a without-notice (interim) order
/// from a final one where the event code is the same (FL404, FMPO).
pub fn stage_of(
    case_type: &str,
    code: &str,
    hearing_type: Option<&str>,
    disposal_type: Option<&str>,
) -> Option<&'static str> {
    match code {
        "G63" => return Some("withdrawn"),
        "ORDREF" => return Some("refused"),
        "ORDNOM" => return Some("no_order"),
        "G62" => return Some("reopened"),
        "U24" => return Some("closed"),
        _ => {}
    }
    let interim = disposal_type == Some("interim_order");
    if matches!(code, "C6" | "G61") {
        let hearing = hearing_type?;
        return match (case_type, hearing) {
            ("public_law", "CMH") => Some("cmh"),
            ("public_law", "FCMH") => Some("fcmh"),
            ("public_law", "IRH") => Some("irh"),
            ("private_law", "FHDRA") => Some("fhdra"),
            ("private_law", "fact_finding") => Some("fact_finding"),
            ("private_law", "DRA") => Some("dra"),
            ("domestic_violence", _) => Some("return_hearing"),
            (
                "public_law" | "private_law" | "adoption" | "financial_remedy" | "forced_marriage",
                "final_hearing",
            ) => Some("final_hearing"),
            _ => None,
        };
    }
    match (case_type, code) {
        ("public_law", "U22") => Some("issue"),
        (_, "U22" | "U21") => Some("application"),
        ("public_law", "C23" | "C33" | "C35B") => Some("interim_order"),
        ("public_law", "C32A" | "C32B" | "C35A" | "C43" | "C43A" | "C45A" | "A70") => {
            Some("final_order")
        }
        ("private_law", "C43" | "C43A" | "C45A") => Some("final_order"),
        ("adoption", "A70") => Some("placement_order"),
        ("adoption", "A76") => Some("adoption_order"),
        ("domestic_violence", "FL404") if interim => Some("without_notice_order"),
        ("domestic_violence", "FL404" | "FL406") => Some("final_order"),
        ("matrimonial", "D84") => Some("conditional_order"),
        ("matrimonial", "D36") => Some("final_order"),
        ("financial_remedy", "D81") => Some("final_order"),
        ("forced_marriage", "FMPO") if interim => Some("interim_order"),
        ("forced_marriage", "FMPO") => Some("final_order"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each type's stages, as FUNCTIONS.md lists them, rank in that order.
    #[test]
    fn every_case_type_ranks_its_stages_in_the_documented_order() {
        let types: &[&[&str]] = &[
            &[
                "issue",
                "interim_order",
                "cmh",
                "fcmh",
                "irh",
                "final_hearing",
                "final_order",
            ],
            &[
                "application",
                "fhdra",
                "fact_finding",
                "dra",
                "final_hearing",
                "final_order",
            ],
            &[
                "application",
                "placement_order",
                "final_hearing",
                "adoption_order",
            ],
            &[
                "application",
                "without_notice_order",
                "return_hearing",
                "final_order",
            ],
            &["application", "conditional_order", "final_order"],
        ];
        for stages in types {
            for w in stages.windows(2) {
                assert!(
                    stage_rank(w[0]) < stage_rank(w[1]),
                    "{} before {}",
                    w[0],
                    w[1]
                );
            }
            for terminal in ["withdrawn", "refused", "no_order", "reopened", "closed"] {
                assert!(stage_rank(stages[stages.len() - 1]) < stage_rank(terminal));
            }
        }
        assert_eq!(stage_rank("my_own_stage"), STAGES.len() as u32);
    }

    #[test]
    fn events_map_to_stages_by_case_type() {
        assert_eq!(stage_of("public_law", "U22", None, None), Some("issue"));
        assert_eq!(
            stage_of("private_law", "U22", None, None),
            Some("application")
        );
        assert_eq!(stage_of("public_law", "C6", Some("IRH"), None), Some("irh"));
        assert_eq!(stage_of("public_law", "C6", Some("directions"), None), None);
        assert_eq!(
            stage_of("private_law", "G61", Some("FHDRA"), None),
            Some("fhdra")
        );
        assert_eq!(
            stage_of("adoption", "A70", None, Some("order_made")),
            Some("placement_order")
        );
        assert_eq!(
            stage_of("public_law", "A70", None, Some("order_made")),
            Some("final_order")
        );
        assert_eq!(
            stage_of("domestic_violence", "FL404", None, Some("interim_order")),
            Some("without_notice_order")
        );
        assert_eq!(
            stage_of("domestic_violence", "FL404", None, Some("order_made")),
            Some("final_order")
        );
        assert_eq!(
            stage_of("matrimonial", "D84", None, None),
            Some("conditional_order")
        );
        assert_eq!(stage_of("any_type", "G63", None, None), Some("withdrawn"));
        assert_eq!(stage_of("public_law", "NOPE", None, None), None);
    }
}
