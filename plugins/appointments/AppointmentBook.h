#pragma once

#include <Poco/Data/Session.h>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace appointments {

struct Slot {
    std::string id; // "2030-01-07T09:00"
    std::string date;
    std::string time;
};

struct Booking {
    std::string id;
    std::string slotId;
    std::string name;
    std::string phone;
    std::string status; // booked | cancelled
    std::string callId; // the Realtime function call that booked it; empty: none (stored as NULL)
};

// One tenant's appointment book in its own SQLite file. Thread-safe (one connection, one mutex):
// tool calls of concurrent calls for the same tenant are serialized, and the conditional UPDATE
// keeps a slot from being booked twice even by another process sharing the file.
class AppointmentBook {
public:
    // Creates the schema and, if there are no slots yet, seeds weekday slots 09:00-16:00 for
    // `seedDays` days from `seedStart` (YYYY-MM-DD).
    AppointmentBook(const std::string& path, const std::string& seedStart, int seedDays);

    std::vector<Slot> freeSlots(const std::string& date, std::size_t limit);
    std::vector<Slot> freeSlotsFrom(const std::string& date, std::size_t limit);
    std::optional<Slot> slot(const std::string& slotId);

    // Replayed: `booking.callId` already booked (the host ran the same function call again);
    // `booking` is overwritten with that first booking and nothing else changes.
    enum class BookResult { Booked, Replayed, NoSuchSlot, SlotTaken };
    BookResult book(const std::string& slotId, Booking& booking);

    enum class CancelResult { Cancelled, NoSuchBooking, AlreadyCancelled };
    CancelResult cancel(const std::string& bookingId, Booking* cancelled);

private:
    bool findByCallId(const std::string& callId, Booking& out);

    std::mutex mutex_;
    Poco::Data::Session session_;
};

} // namespace appointments
