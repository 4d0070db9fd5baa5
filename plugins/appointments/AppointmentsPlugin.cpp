// appointments: the agent looks up free slots, books and cancels appointments in the tenant's own
// SQLite file. Arguments are validated (a bad one becomes {"error": ...} for the model); business
// outcomes (slot taken, unknown booking) are structured results the model can explain.
#include "AppointmentBook.h"

#include <sideband/sdk/Sdk.h>

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/File.h>
#include <Poco/Path.h>
#include <Poco/Random.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <regex>

namespace {

using appointments::AppointmentBook;
using Poco::JSON::Array;
using Poco::JSON::Object;
using sideband::sdk::CallContext;
using sideband::sdk::ToolCall;
using sideband::sdk::ToolDefinition;

Object::Ptr stringProperty(const std::string& description, const std::string& pattern = {}) {
    Object::Ptr p = new Object;
    p->set("type", "string");
    p->set("description", description);
    if (!pattern.empty()) p->set("pattern", pattern);
    return p;
}

Object::Ptr schema(std::vector<std::pair<std::string, Object::Ptr>> properties, std::vector<std::string> required) {
    Object::Ptr props = new Object;
    for (auto& [name, property] : properties)
        props->set(name, property);
    Array::Ptr req = new Array;
    for (auto& name : required)
        req->add(name);
    Object::Ptr s = new Object;
    s->set("type", "object");
    s->set("properties", props);
    s->set("required", req);
    return s;
}

std::string today() {
    return Poco::DateTimeFormatter::format(Poco::DateTime(), "%Y-%m-%d");
}

std::string validDate(const std::string& date) {
    static const std::regex shape(R"(\d{4}-\d{2}-\d{2})");
    if (std::regex_match(date, shape)) {
        int y = std::stoi(date.substr(0, 4)), m = std::stoi(date.substr(5, 2)), d = std::stoi(date.substr(8, 2));
        if (Poco::DateTime::isValid(y, m, d)) return date;
    }
    throw std::invalid_argument("date must be a calendar date as YYYY-MM-DD, got '" + date + "'");
}

std::string validPhone(const std::string& phone) {
    std::string digits;
    for (char c : phone) {
        if (c == ' ' || c == '-' || c == '(' || c == ')' || c == '.') continue;
        digits.push_back(c);
    }
    static const std::regex shape(R"(\+?[0-9]{7,15})");
    if (!std::regex_match(digits, shape))
        throw std::invalid_argument("phone must be a phone number of 7 to 15 digits, got '" + phone + "'");
    return digits;
}

std::string validName(std::string name) {
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (name.empty() || name.size() > 100) throw std::invalid_argument("name must be 1 to 100 characters");
    return name;
}

Object::Ptr slotJson(const appointments::Slot& slot) {
    Object::Ptr s = new Object;
    s->set("slot_id", slot.id);
    s->set("date", slot.date);
    s->set("time", slot.time);
    return s;
}

class AppointmentsPlugin : public sideband::sdk::Plugin {
public:
    AppointmentsPlugin() { random_.seed(); }

    std::vector<ToolDefinition> tools() const override {
        return {
            {"find_slots",
             "List free appointment slots on a date (YYYY-MM-DD), or the next free ones from today when no date is "
             "given.",
             schema({{"date", stringProperty("The day to look at, YYYY-MM-DD.", R"(^\d{4}-\d{2}-\d{2}$)")}}, {})},
            {"book_appointment", "Book a free slot (from find_slots) for the caller.",
             schema({{"slot_id", stringProperty("The slot_id returned by find_slots.")},
                     {"name", stringProperty("The caller's name.")},
                     {"phone", stringProperty("A phone number to reach the caller.")}},
                    {"slot_id", "name", "phone"})},
            {"cancel_appointment", "Cancel a booking by its booking_id.",
             schema({{"booking_id", stringProperty("The booking_id returned when the appointment was booked.")}},
                    {"booking_id"})},
        };
    }

    Object::Ptr callTool(CallContext& call, const ToolCall& tool) override {
        if (tool.name() == "find_slots") return findSlots(call, tool);
        if (tool.name() == "book_appointment") return bookAppointment(call, tool);
        if (tool.name() == "cancel_appointment") return cancelAppointment(call, tool);
        throw std::invalid_argument("unknown tool '" + tool.name() + "'");
    }

    void decorateCall(CallContext&, sideband::sdk::CallSetup& setup) override {
        // The model has no calendar; "next Tuesday" needs today's date.
        setup.instructions += "\n\nToday is " + Poco::DateTimeFormatter::format(Poco::DateTime(), "%A, %Y-%m-%d") +
                              ". Use find_slots before offering times; confirm name and phone before booking.";
    }

private:
    Object::Ptr findSlots(CallContext& call, const ToolCall& tool) {
        const std::string date = tool.optionalString("date");
        auto& db = book(call);
        Object::Ptr result = new Object;
        std::vector<appointments::Slot> slots;
        if (date.empty()) {
            slots = db.freeSlotsFrom(today(), 10);
        } else {
            slots = db.freeSlots(validDate(date), 20);
            result->set("date", date);
        }
        Array::Ptr list = new Array;
        for (const auto& slot : slots)
            list->add(slotJson(slot));
        result->set("slots", list);
        result->set("count", static_cast<int>(slots.size()));
        return result;
    }

    Object::Ptr bookAppointment(CallContext& call, const ToolCall& tool) {
        appointments::Booking booking;
        const std::string slotId = tool.requireString("slot_id");
        booking.name = validName(tool.requireString("name"));
        booking.phone = validPhone(tool.requireString("phone"));
        booking.id = newBookingId();
        booking.slotId = slotId;
        // The host may run the same function call twice (a runner restart mid-call): the second run
        // answers with the first booking instead of booking again or reporting its own slot taken.
        booking.callId = tool.callId();
        auto& db = book(call);
        Object::Ptr result = new Object;
        switch (const auto outcome = db.book(slotId, booking)) {
        case AppointmentBook::BookResult::Booked:
        case AppointmentBook::BookResult::Replayed: {
            auto slot = db.slot(booking.slotId);
            result->set("booked", true);
            result->set("booking_id", booking.id);
            result->set("slot", slotJson(slot ? *slot : appointments::Slot{booking.slotId, {}, {}}));
            result->set("name", booking.name);
            call.log().info((outcome == AppointmentBook::BookResult::Replayed ? "replayed booking " : "booked ") +
                            booking.slotId + " as " + booking.id);
            return result;
        }
        case AppointmentBook::BookResult::NoSuchSlot:
            result->set("reason", "no_such_slot");
            break;
        case AppointmentBook::BookResult::SlotTaken:
            result->set("reason", "slot_taken");
            break;
        }
        result->set("booked", false);
        return result;
    }

    Object::Ptr cancelAppointment(CallContext& call, const ToolCall& tool) {
        const std::string bookingId = tool.requireString("booking_id");
        appointments::Booking cancelled;
        Object::Ptr result = new Object;
        switch (book(call).cancel(bookingId, &cancelled)) {
        case AppointmentBook::CancelResult::Cancelled:
            result->set("cancelled", true);
            result->set("booking_id", bookingId);
            result->set("slot_id", cancelled.slotId);
            call.log().info("cancelled " + bookingId);
            return result;
        case AppointmentBook::CancelResult::NoSuchBooking:
            result->set("reason", "no_such_booking");
            break;
        case AppointmentBook::CancelResult::AlreadyCancelled:
            result->set("reason", "already_cancelled");
            break;
        }
        result->set("cancelled", false);
        return result;
    }

    // plugin_config: "database" (a relative path inside the state directory: SIDEBAND_STATE_DIR, else
    // $TMPDIR/sideband-state; default appointments-<tenant>.sqlite), "seed_start" (YYYY-MM-DD, default
    // today), "seed_days" (default 14).
    AppointmentBook& book(CallContext& call) {
        const auto& config = call.pluginConfig();
        const char* stateEnv = std::getenv("SIDEBAND_STATE_DIR");
        Poco::Path stateDir(stateEnv && *stateEnv ? stateEnv : Poco::Path::temp() + "sideband-state");
        stateDir.makeDirectory();
        const std::string name = databaseName(config.optValue<std::string>("database", ""), call.tenantId());
        // Joined as text: Poco::Path would expand a leading "~" of the tenant's part.
        const std::string file = stateDir.toString() + name;
        std::lock_guard lock(mutex_);
        auto& slot = books_[file];
        if (!slot) {
            Poco::File(Poco::Path(file).parent()).createDirectories();
            const std::string seedStart = config.optValue<std::string>("seed_start", today());
            slot = std::make_unique<AppointmentBook>(file, validDate(seedStart), config.optValue<int>("seed_days", 14));
        }
        return *slot;
    }

    // Tenant configs are data: they may name a file for the book, but not one outside the plugin's
    // state directory (another tenant's book elsewhere, or any file the host can write).
    static std::string databaseName(const std::string& configured, const std::string& tenantId) {
        if (configured.empty()) return "appointments-" + tenantId + ".sqlite";
        const auto refuse = [&](const std::string& why) {
            throw std::runtime_error("plugin_config.database must be a relative path inside the plugin's state "
                                     "directory; '" +
                                     configured + "' " + why);
        };
        if (configured.front() == '/') refuse("is absolute");
        for (char c : configured)
            if (static_cast<unsigned char>(c) < 0x20) refuse("contains a control character");
        std::size_t start = 0;
        for (;;) {
            const auto end = configured.find('/', start);
            if (configured.compare(start, end == std::string::npos ? std::string::npos : end - start, "..") == 0)
                refuse("climbs out with '..'");
            if (end == std::string::npos) break;
            start = end + 1;
        }
        if (configured.back() == '/') refuse("names a directory");
        return configured;
    }

    std::string newBookingId() {
        std::lock_guard lock(mutex_);
        static const char* hex = "0123456789abcdef";
        std::string id = "bk-";
        for (int i = 0; i < 8; ++i)
            id.push_back(hex[random_.next(16)]);
        return id;
    }

    std::mutex mutex_;
    Poco::Random random_;
    std::map<std::string, std::unique_ptr<AppointmentBook>> books_;
};

} // namespace

SIDEBAND_PLUGIN(AppointmentsPlugin)
