#include "AppointmentBook.h"

#include <Poco/Data/SQLite/SessionImpl.h>
#include <Poco/Data/Statement.h>
#include <Poco/DateTime.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/DateTimeParser.h>
#include <Poco/Exception.h>
#include <Poco/Timespan.h>

#include <cstdio>

namespace appointments {
using namespace Poco::Data::Keywords;

namespace {

// The session is made from the SQLite implementation directly, not through Poco's global connector
// registry: that registry would outlive this plugin's library after an unload.
Poco::Data::Session open(const std::string& path) {
    return Poco::Data::Session(Poco::AutoPtr<Poco::Data::SessionImpl>(new Poco::Data::SQLite::SessionImpl(path)));
}

std::vector<Slot> toSlots(const std::vector<std::string>& ids, const std::vector<std::string>& dates,
                          const std::vector<std::string>& times) {
    std::vector<Slot> slots;
    for (std::size_t i = 0; i < ids.size(); ++i)
        slots.push_back({ids[i], dates[i], times[i]});
    return slots;
}

} // namespace

AppointmentBook::AppointmentBook(const std::string& path, const std::string& seedStart, int seedDays)
    : session_(open(path)) {
    session_ << "PRAGMA busy_timeout = 2000", now;
    session_ << "CREATE TABLE IF NOT EXISTS slots (slot_id TEXT PRIMARY KEY, day TEXT NOT NULL, time TEXT NOT NULL, "
                "booking_id TEXT)",
        now;
    session_ << "CREATE TABLE IF NOT EXISTS bookings (booking_id TEXT PRIMARY KEY, slot_id TEXT NOT NULL, "
                "name TEXT NOT NULL, phone TEXT NOT NULL, status TEXT NOT NULL, call_id TEXT)",
        now;
    // Books created before call ids were kept lack the column: add it (NULL for their bookings).
    const auto hasCallId = [this] {
        int columns = 0;
        session_ << "SELECT COUNT(*) FROM pragma_table_info('bookings') WHERE name = 'call_id'", into(columns), now;
        return columns > 0;
    };
    if (!hasCallId()) {
        try {
            session_ << "ALTER TABLE bookings ADD COLUMN call_id TEXT", now;
        } catch (const Poco::Exception&) {
            if (!hasCallId()) throw; // else another process sharing the file added it first
        }
    }
    // Unique: one booking per function call, even across processes (NULLs do not collide).
    session_ << "CREATE UNIQUE INDEX IF NOT EXISTS bookings_call_id ON bookings (call_id)", now;
    int count = 0;
    session_ << "SELECT COUNT(*) FROM slots", into(count), now;
    if (count > 0) return;

    int tzd = 0;
    Poco::DateTime day = Poco::DateTimeParser::parse("%Y-%m-%d", seedStart, tzd);
    session_.begin();
    for (int i = 0; i < seedDays; ++i, day += Poco::Timespan(1, 0, 0, 0, 0)) {
        if (day.dayOfWeek() == Poco::DateTime::SATURDAY || day.dayOfWeek() == Poco::DateTime::SUNDAY) continue;
        std::string date = Poco::DateTimeFormatter::format(day, "%Y-%m-%d");
        for (int hour = 9; hour <= 16; ++hour) {
            char time[6];
            std::snprintf(time, sizeof time, "%02d:00", hour);
            std::string t = time;
            std::string id = date + "T" + t;
            session_ << "INSERT INTO slots (slot_id, day, time) VALUES (?, ?, ?)", use(id), use(date), use(t), now;
        }
    }
    session_.commit();
}

std::vector<Slot> AppointmentBook::freeSlots(const std::string& date, std::size_t limit) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> ids, dates, times;
    auto max = static_cast<int>(limit);
    session_ << "SELECT slot_id, day, time FROM slots WHERE day = ? AND booking_id IS NULL ORDER BY slot_id LIMIT ?",
        into(ids), into(dates), into(times), bind(date), use(max), now;
    return toSlots(ids, dates, times);
}

std::vector<Slot> AppointmentBook::freeSlotsFrom(const std::string& date, std::size_t limit) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> ids, dates, times;
    auto max = static_cast<int>(limit);
    session_ << "SELECT slot_id, day, time FROM slots WHERE day >= ? AND booking_id IS NULL ORDER BY slot_id LIMIT ?",
        into(ids), into(dates), into(times), bind(date), use(max), now;
    return toSlots(ids, dates, times);
}

std::optional<Slot> AppointmentBook::slot(const std::string& slotId) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> ids, dates, times;
    session_ << "SELECT slot_id, day, time FROM slots WHERE slot_id = ?", into(ids), into(dates), into(times),
        bind(slotId), now;
    if (ids.empty()) return std::nullopt;
    return Slot{ids[0], dates[0], times[0]};
}

bool AppointmentBook::findByCallId(const std::string& callId, Booking& out) {
    if (callId.empty()) return false;
    std::vector<std::string> ids, slotIds, names, phones, statuses;
    session_ << "SELECT booking_id, slot_id, name, phone, status FROM bookings WHERE call_id = ?", into(ids),
        into(slotIds), into(names), into(phones), into(statuses), bind(callId), now;
    if (ids.empty()) return false;
    out = {ids[0], slotIds[0], names[0], phones[0], statuses[0], callId};
    return true;
}

AppointmentBook::BookResult AppointmentBook::book(const std::string& slotId, Booking& booking) {
    std::lock_guard lock(mutex_);
    if (findByCallId(booking.callId, booking)) return BookResult::Replayed;
    int exists = 0;
    session_ << "SELECT COUNT(*) FROM slots WHERE slot_id = ?", into(exists), bind(slotId), now;
    if (!exists) return BookResult::NoSuchSlot;
    session_.begin();
    Poco::Data::Statement claim(session_);
    claim << "UPDATE slots SET booking_id = ? WHERE slot_id = ? AND booking_id IS NULL", bind(booking.id), bind(slotId);
    if (claim.execute() == 0) {
        session_.rollback();
        // Another process may have run the same function call and taken this very slot.
        return findByCallId(booking.callId, booking) ? BookResult::Replayed : BookResult::SlotTaken;
    }
    try {
        if (booking.callId.empty())
            session_ << "INSERT INTO bookings (booking_id, slot_id, name, phone, status) VALUES (?, ?, ?, ?, 'booked')",
                bind(booking.id), bind(slotId), bind(booking.name), bind(booking.phone), now;
        else
            session_ << "INSERT INTO bookings (booking_id, slot_id, name, phone, status, call_id) "
                        "VALUES (?, ?, ?, ?, 'booked', ?)",
                bind(booking.id), bind(slotId), bind(booking.name), bind(booking.phone), bind(booking.callId), now;
    } catch (const Poco::Exception&) {
        // The unique call id index: another process booked this call id since the check above. Give
        // back this slot and answer with that booking.
        session_.rollback();
        if (findByCallId(booking.callId, booking)) return BookResult::Replayed;
        throw;
    }
    session_.commit();
    return BookResult::Booked;
}

AppointmentBook::CancelResult AppointmentBook::cancel(const std::string& bookingId, Booking* cancelled) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> slotIds, names, phones, statuses;
    session_ << "SELECT slot_id, name, phone, status FROM bookings WHERE booking_id = ?", into(slotIds), into(names),
        into(phones), into(statuses), bind(bookingId), now;
    if (slotIds.empty()) return CancelResult::NoSuchBooking;
    if (statuses[0] != "booked") return CancelResult::AlreadyCancelled;
    session_.begin();
    session_ << "UPDATE bookings SET status = 'cancelled' WHERE booking_id = ?", bind(bookingId), now;
    session_ << "UPDATE slots SET booking_id = NULL WHERE booking_id = ?", bind(bookingId), now;
    session_.commit();
    if (cancelled) *cancelled = {bookingId, slotIds[0], names[0], phones[0], "cancelled", {}};
    return CancelResult::Cancelled;
}

} // namespace appointments
