//! A small, realistic history with every kind of correction, for the snapshot tests.

use fundtrail_domain::{Currency, DonorKind, Indicator};

use super::world::{EarmarkChoice, World};

/// Money in major units as minor units of a two-decimal currency.
const fn units(major: i64) -> i64 {
    major * 100
}

pub fn story() -> World {
    let usd = Currency::USD;
    let eur = Currency::EUR;
    let chf = Currency::CHF;
    let jpy = Currency::new("JPY").unwrap();
    let gbp = Currency::new("GBP").unwrap();
    let bam = Currency::new("BAM").unwrap();
    let mut w = World::new(usd);

    let us = w.register_donor(
        "US-GOV-1",
        "United States",
        DonorKind::Government,
        false,
        usd,
    );
    let nl = w.register_donor("XM-DAC-7", "Netherlands", DonorKind::Government, true, eur);
    let ch = w.register_donor("XM-DAC-11", "Switzerland", DonorKind::Government, true, chf);
    let jp = w.register_donor("XM-DAC-701", "Japan", DonorKind::Government, true, jpy);
    let trust = w.register_donor(
        "GB-CHC-1089464",
        "Mine Action Trust",
        DonorKind::Private,
        false,
        gbp,
    );
    w.open_pool(us, units(2_000_000), &["BA", "UA"], 365);

    let bihac = w
        .register_project(
            "BA",
            eur,
            units(1_500_000),
            "Land release in Bihać",
            "Norwegian People's Aid",
        )
        .unwrap();
    w.plan(
        bihac,
        Indicator::SquareMetresCleared,
        200_000,
        units(400_000),
    );
    w.plan(bihac, Indicator::DevicesDestroyed, 150, units(300_000));
    let kharkiv = w
        .register_project(
            "UA",
            usd,
            units(2_000_000),
            "Humanitarian demining, Kharkiv oblast",
            "The HALO Trust",
        )
        .unwrap();
    w.plan(
        kharkiv,
        Indicator::SquareMetresCleared,
        500_000,
        units(800_000),
    );
    let lika = w
        .register_project(
            "HR",
            eur,
            units(300_000),
            "Non-technical survey, Lika-Senj",
            "CROMAC",
        )
        .unwrap();
    w.plan(
        lika,
        Indicator::Other {
            name: "hazardous area surveyed".into(),
            unit: "km²".into(),
        },
        40,
        units(100_000),
    );

    w.next_day(10);
    let nl_ba = w
        .record_pledge(nl, units(1_000_000), EarmarkChoice::Country("BA"))
        .unwrap();
    let nl_free = w
        .record_pledge(nl, units(500_000), EarmarkChoice::None)
        .unwrap();
    let ch_ua = w
        .record_pledge(ch, units(800_000), EarmarkChoice::Country("UA"))
        .unwrap();
    let jp_lika = w
        .record_pledge(jp, 50_000_000, EarmarkChoice::Project(lika))
        .unwrap();
    let trust_hr = w
        .record_pledge(trust, units(200_000), EarmarkChoice::Country("HR"))
        .unwrap();
    let us_free = w
        .record_pledge(us, units(1_500_000), EarmarkChoice::None)
        .unwrap();
    w.amend(ch_ua, units(900_000));
    w.sign(nl_ba, units(1_000_000));
    w.sign(ch_ua, units(700_000));
    w.sign(jp_lika, 40_000_000);

    w.next_day(20);
    w.receive(nl_ba, units(600_000));
    w.receive(nl_free, units(500_000));
    w.receive(ch_ua, units(400_000));
    w.receive(trust_hr, units(50_000));
    w.next_day(3);
    w.receive(nl_ba, units(200_000));
    w.void_match(0, 2);
    w.withdraw(trust_hr);
    w.next_day(5);
    w.receive(us_free, units(800_000));

    w.next_day(7);
    w.allocate(nl_ba, bihac, units(500_000));
    w.allocate(nl_ba, bihac, units(50_000));
    w.allocate(nl_free, kharkiv, units(300_000));
    w.allocate(ch_ua, kharkiv, units(350_000));
    w.allocate(trust_hr, lika, units(50_000));
    w.allocate(us_free, kharkiv, units(600_000));
    w.return_allocation(bihac, 1);

    w.next_day(60);
    w.report_progress(bihac, 1, 180_000);
    w.reject_milestone(bihac, 1);
    w.report_progress(bihac, 1, 210_000);
    w.verify(bihac, 1);
    w.report_progress(bihac, 2, 160);
    w.report_progress(kharkiv, 1, 500_000);
    w.verify(kharkiv, 1);

    w.next_day(5);
    let t1 = w.request(bihac, units(400_000), Some(1)).unwrap();
    w.approve(t1);
    w.pay(t1, Some(bam));
    let advance = w.request(bihac, units(50_000), None).unwrap();
    w.approve(advance);
    w.pay(advance, None);
    let t2 = w.request(kharkiv, units(800_000), Some(1)).unwrap();
    w.approve(t2);
    w.pay(t2, None);
    let extra = w.request(kharkiv, units(100_000), None).unwrap();
    w.approve(extra);
    w.pay(extra, None);

    w.next_day(30);
    w.refund(advance, units(10_000));
    w.reverse(extra);
    // Lika's survey is verified short of its target: proportionally, 30 of 40 km² release
    // 75 000.00 of the 100 000.00 EUR tranche, and the views show the 25 000.00 withheld.
    w.report_progress(lika, 1, 30);
    w.verify(lika, 1);
    w
}
