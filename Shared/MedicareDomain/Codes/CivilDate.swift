import Foundation
import Synchronization

/// A calendar date as YYYY-MM-DD, compared as text.
public struct CivilDate: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The year (1900-2200 when parsed from text).
    public let year: Int
    /// The month, 1-12.
    public let month: Int
    /// The day of the month, 1-31 (valid for the month and year when parsed from text).
    public let day: Int

    /// Parses exactly `YYYY-MM-DD` in ASCII digits (no signs, spaces or other digits), a
    /// real calendar day in 1900-2200.
    public init(_ text: String, field: String) throws(DomainError) {
        let u = Array(text.utf8)
        guard u.count == 10, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"),
              [0, 1, 2, 3, 5, 6, 8, 9].allSatisfy({ isASCIIDigit(u[$0]) }) else {
            throw DomainError(field: field, "\(quoted(text)) is not a date (YYYY-MM-DD)")
        }
        func number(_ r: Range<Int>) -> Int { u[r].reduce(0) { $0 * 10 + Int($1 - 48) } }
        let y = number(0..<4), m = number(5..<7), d = number(8..<10)
        guard (1900...2200).contains(y), (1...12).contains(m), (1...Self.daysIn(month: m, year: y)).contains(d) else {
            throw DomainError(field: field, "\(quoted(text)) is not a date (YYYY-MM-DD)")
        }
        (year, month, day) = (y, m, d)
    }

    /// Makes a date from its parts without checking them (callers pass a real calendar day).
    public init(year: Int, month: Int, day: Int) {
        (self.year, self.month, self.day) = (year, month, day)
    }

    /// Today in the given time zone (the business day; services use their configured zone).
    public static func today(in timeZone: TimeZone = .current) -> CivilDate {
        today(calendar: gregorian(in: timeZone))
    }

    /// Today by a calendar made once with ``gregorian(in:)`` (a hot path need not make one per
    /// call; one that asks on every request keeps a ``DayClock``).
    public static func today(calendar: Calendar) -> CivilDate {
        let c = calendar.dateComponents([.year, .month, .day], from: Date())
        return CivilDate(year: c.year!, month: c.month!, day: c.day!)
    }

    /// The Gregorian calendar in a time zone.
    public static func gregorian(in timeZone: TimeZone) -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }

    /// The number of days in a month (1-12) of a Gregorian year, counting 29 February in leap years.
    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// The date `days` later (earlier when negative), by the proleptic Gregorian calendar.
    public func adding(days: Int) -> CivilDate {
        CivilDate(dayNumber: dayNumber + days)
    }

    /// Days from `self` to `other` (negative when `other` is earlier).
    public func days(to other: CivilDate) -> Int {
        other.dayNumber - dayNumber
    }

    /// Days since 1970-01-01 (negative before it), by the proleptic Gregorian calendar.
    ///
    /// Integer arithmetic over 400-year eras (H. Hinnant, "chrono-Compatible Low-Level Date
    /// Algorithms", `days_from_civil`): review's windows add and compare dates for every visit
    /// of a person's history, and a Foundation `Calendar` made that a tenth of supervision's CPU.
    public var dayNumber: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date `dayNumber` days after 1970-01-01 (the inverse of ``dayNumber``).
    public init(dayNumber: Int) {
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        self.init(year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month: month, day: dayOfYear - (153 * mp + 2) / 5 + 1)
    }

    /// The date as `YYYY-MM-DD`, zero-padded.
    public var description: String {
        func pad(_ n: Int, _ w: Int) -> String { String(repeating: "0", count: max(0, w - String(n).count)) + String(n) }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    /// Orders dates chronologically (year, then month, then day).
    public static func < (a: CivilDate, b: CivilDate) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }
}

/// Today in a time zone, for a hot path that asks on every call (each visit step and
/// settlement asks for its business day). The calendar works the date out once a day, and
/// the day's bounds with it; in between, a call compares the time with them (Foundation's
/// `dateComponents` was 3-4% of settlement's event-loop thread in the visit flow's profile).
/// A clock set back before the day's start is worked out again.
public final class DayClock: Sendable {
    private struct Day {
        let date: CivilDate
        let from: Date
        let until: Date
    }

    /// The Gregorian calendar in the clock's time zone.
    public let calendar: Calendar
    private let day = Mutex<Day?>(nil)

    /// A clock of the days in `timeZone` (a service's `business.time-zone`).
    public init(in timeZone: TimeZone) {
        calendar = CivilDate.gregorian(in: timeZone)
    }

    /// The date at `now` in the clock's time zone.
    public func today(now: Date = Date()) -> CivilDate {
        day.withLock { held in
            if let held, now >= held.from, now < held.until { return held.date }
            let c = calendar.dateComponents([.year, .month, .day], from: now)
            let date = CivilDate(year: c.year!, month: c.month!, day: c.day!)
            // The day as the zone has it: 23 or 25 hours across a change of offset, and from
            // 01:00 where the change skips midnight. Without an answer, the date is worked out
            // again on the next call.
            held = calendar.dateInterval(of: .day, for: now).map { Day(date: date, from: $0.start, until: $0.end) }
            return date
        }
    }
}
