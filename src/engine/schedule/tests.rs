use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[test]
fn probe() {
    let ny: Tz = "America/New_York".parse().unwrap();
    let s = Schedule::parse("cron(0 12 1 * ? 2020)", ny, None, None).unwrap();
    let t = std::time::Instant::now();
    println!("{:?} {:?}", s.next_after(utc("2025-01-01T00:00:00Z")), t.elapsed());
    let s = Schedule::parse("cron(0 12 31 2 ? *)", ny, None, None).unwrap();
    let t = std::time::Instant::now();
    println!("{:?} {:?}", s.next_after(utc("2025-01-01T00:00:00Z")), t.elapsed());
    let s = Schedule::parse("cron(30 1 * * ? *)", ny, None, None).unwrap();
    for at in ["2025-11-02T05:29:00Z","2025-11-02T05:30:00Z","2025-11-02T06:00:00Z","2025-11-02T06:30:00Z","2025-11-02T06:45:00Z"] {
        println!("{at}: next {:?} latest {:?}", s.next_after(utc(at)), s.latest_at_or_before(utc(at)));
    }
    let s = Schedule::parse("cron(30 2 * * ? *)", ny, None, None).unwrap();
    for at in ["2025-03-09T06:59:00Z","2025-03-09T07:00:00Z","2025-03-09T07:30:00Z", "2025-03-09T06:30:00Z"] {
        println!("{at}: next {:?} latest {:?}", s.next_after(utc(at)), s.latest_at_or_before(utc(at)));
    }
    let s = Schedule::parse("cron(0 2 * * ? *)", ny, None, None).unwrap();
    for at in ["2025-03-09T06:59:00Z","2025-03-09T07:00:00Z","2025-03-09T07:30:00Z"] {
        println!("0200 {at}: next {:?} latest {:?}", s.next_after(utc(at)), s.latest_at_or_before(utc(at)));
    }
    let s = Schedule::parse("cron(15 * * * ? *)", ny, None, None).unwrap();
    for at in ["2025-03-09T06:20:00Z"] {
        println!("hourly {at}: next {:?} latest {:?}", s.next_after(utc(at)), s.latest_at_or_before(utc(at)));
    }
    let s = Schedule::parse("at(2025-03-09T02:30:00)", ny, None, None).unwrap();
    println!("{:?}", s);
    let s = Schedule::parse("at(2025-11-02T01:30:00)", ny, None, None).unwrap();
    println!("{:?}", s);
}
