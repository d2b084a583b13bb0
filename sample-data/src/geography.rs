//! Where cases are heard and where families live: regions, Designated Family Judge areas, their
//! courts and local authorities.
//!
//! The 44 DFJ areas and their regions follow the real map; weights are rough shares of the
//! population so that Wales carries about 5-6% of the volume (design/DATA.md). Court codes and
//! local authority codes are synthetic but have the real form (two letters; E06/E07/E08/E09/W06
//! followed by six digits).

pub struct Area {
    pub name: &'static str,
    pub region: &'static str,
    pub weight: f64,
    pub wales: bool,
}

const fn area(name: &'static str, region: &'static str, weight: f64) -> Area {
    Area {
        name,
        region,
        weight,
        wales: false,
    }
}
const fn welsh(name: &'static str, weight: f64) -> Area {
    Area {
        name,
        region: "Wales",
        weight,
        wales: true,
    }
}

pub const REGIONS: &[&str] = &[
    "North East",
    "North West",
    "Yorkshire and The Humber",
    "East Midlands",
    "West Midlands",
    "East of England",
    "London",
    "South East",
    "South West",
    "Wales",
];

pub const AREAS: &[Area] = &[
    area("Cleveland", "North East", 1.2),
    area("Newcastle", "North East", 1.7),
    area("Sunderland", "North East", 1.0),
    area("Carlisle", "North West", 0.9),
    area("Lancashire", "North West", 2.6),
    area("Liverpool", "North West", 2.8),
    area("Manchester", "North West", 3.5),
    area("Stockport", "North West", 1.2),
    area("Bradford", "Yorkshire and The Humber", 1.5),
    area("Humberside", "Yorkshire and The Humber", 1.4),
    area("Leeds", "Yorkshire and The Humber", 2.0),
    area("Sheffield", "Yorkshire and The Humber", 2.0),
    area("York", "Yorkshire and The Humber", 1.0),
    area("Derby", "East Midlands", 1.7),
    area("Leicester", "East Midlands", 1.8),
    area("Lincoln", "East Midlands", 1.2),
    area("Nottingham", "East Midlands", 1.8),
    area("Birmingham", "West Midlands", 2.8),
    area("Coventry", "West Midlands", 1.7),
    area("Stoke-on-Trent", "West Midlands", 1.6),
    area("Wolverhampton", "West Midlands", 1.9),
    area("Worcester", "West Midlands", 1.1),
    area("Cambridge", "East of England", 1.5),
    area("Chelmsford", "East of England", 2.7),
    area("Ipswich", "East of England", 1.2),
    area("Luton", "East of England", 1.6),
    area("Norwich", "East of England", 1.6),
    area("Peterborough", "East of England", 1.0),
    area("Central London", "London", 3.2),
    area("East London", "London", 3.4),
    area("West London", "London", 3.0),
    area("Brighton", "South East", 1.6),
    area("Guildford", "South East", 2.3),
    area("Medway", "South East", 2.8),
    area("Milton Keynes", "South East", 1.9),
    area("Oxford", "South East", 1.6),
    area("Portsmouth", "South East", 1.5),
    area("Reading", "South East", 1.5),
    area("Bournemouth", "South West", 1.5),
    area("Bristol", "South West", 2.2),
    area("Plymouth", "South West", 1.7),
    area("Swindon", "South West", 1.3),
    area("Taunton", "South West", 1.1),
    welsh("Cardiff", 2.0),
    welsh("Swansea", 1.3),
    welsh("North Wales", 0.9),
];

/// Courts per area (the first is the main hearing centre).
pub const COURTS_PER_AREA: usize = 2;
/// Local authorities per area.
pub const LAS_PER_AREA: usize = 4;

/// The two-letter code of court `k` of area `a`: unique, deterministic, of FamilyMan's form.
pub fn court_code(a: usize, k: usize) -> String {
    let n = a * COURTS_PER_AREA + k;
    let letters = b"ABCDEFGHJKLMNPRSTUVWXY";
    let first = letters[(n / letters.len()) % letters.len()] as char;
    let second = letters[n % letters.len()] as char;
    format!("{first}{second}")
}

/// The ONS-form code of local authority `k` of area `a`.
pub fn la_code(a: usize, k: usize) -> String {
    let area = &AREAS[a];
    let prefix = if area.wales {
        "W06"
    } else {
        // London boroughs are E09; mets E08; the rest unitary (E06) or districts (E07).
        match (area.region, k % 2) {
            ("London", _) => "E09",
            ("North West" | "Yorkshire and The Humber" | "West Midlands" | "North East", 0) => {
                "E08"
            }
            (_, 0) => "E06",
            _ => "E07",
        }
    };
    format!("{prefix}{:06}", 1 + a * LAS_PER_AREA + k)
}

pub fn region_index(name: &str) -> usize {
    REGIONS.iter().position(|r| *r == name).unwrap_or(0)
}

pub fn area_weights() -> Vec<f64> {
    AREAS.iter().map(|a| a.weight).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn court_and_la_codes_are_unique_and_well_formed() {
        let mut courts = HashSet::new();
        let mut las = HashSet::new();
        for a in 0..AREAS.len() {
            for k in 0..COURTS_PER_AREA {
                let c = court_code(a, k);
                assert_eq!(c.len(), 2);
                assert!(courts.insert(c));
            }
            for k in 0..LAS_PER_AREA {
                let l = la_code(a, k);
                assert_eq!(l.len(), 9);
                assert!(las.insert(l));
            }
        }
    }

    #[test]
    fn wales_carries_five_to_six_percent() {
        let total: f64 = AREAS.iter().map(|a| a.weight).sum();
        let wales: f64 = AREAS.iter().filter(|a| a.wales).map(|a| a.weight).sum();
        let share = wales / total;
        assert!((0.05..=0.06).contains(&share), "{share}");
    }
}
