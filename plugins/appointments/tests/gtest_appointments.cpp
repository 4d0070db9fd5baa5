// Tests of appointments.so through the SDK's harness and fakes, against a throw-away SQLite file.
#include <sideband/sdk/testing/Mocks.h>
#include <sideband/sdk/testing/PluginHarness.h>

#include <Poco/Data/SQLite/SessionImpl.h>
#include <Poco/Data/Session.h>
#include <Poco/File.h>
#include <Poco/Path.h>
#include <Poco/TemporaryFile.h>

#include <gtest/gtest.h>

#include <cstdlib>

using namespace sideband::sdk;
using namespace sideband::sdk::testing;

namespace {

class Appointments : public ::testing::Test {
protected:
    void SetUp() override {
        Poco::File(dir_.path()).createDirectories();
        ::setenv("SIDEBAND_STATE_DIR", dir_.path().c_str(), 1); // the plugin's databases live beneath it
        database_ = dir_.path() + "/book.sqlite";
        // 2030-01-07 is a Monday: the seed covers Mon-Fri, 09:00-16:00.
        useDatabase("book.sqlite");
    }
    void TearDown() override { ::unsetenv("SIDEBAND_STATE_DIR"); }

    void useDatabase(const std::string& name) {
        call.setPluginConfig(R"({"database":")" + name + R"(","seed_start":"2030-01-07","seed_days":7})");
    }

    static constexpr const char* kBookFirstSlot =
        R"({"slot_id":"2030-01-07T09:00","name":"Ada Lovelace","phone":"+44 20 7946 0000"})";

    std::string bookFirstSlot() {
        auto result = plugin.call(call, "book_appointment",
                                  R"({"slot_id":"2030-01-07T09:00","name":"Ada Lovelace","phone":"+44 20 7946 0000"})");
        return result->getValue<std::string>("booking_id");
    }

    Poco::TemporaryFile dir_;
    std::string database_;
    PluginHarness plugin{APPOINTMENTS_PLUGIN};
    FakeCallContext call;
};

TEST_F(Appointments, DeclaresThreeToolsWithRequiredArguments) {
    ASSERT_EQ(plugin.tools().size(), 3u);
    EXPECT_EQ(plugin.tools()[1].name, "book_appointment");
    EXPECT_EQ(plugin.tools()[1].parameters->getArray("required")->size(), 3u);
}

TEST_F(Appointments, FindsTheSeededSlotsOfAWeekday) {
    auto result = plugin.call(call, "find_slots", R"({"date":"2030-01-07"})");
    EXPECT_EQ(result->getValue<int>("count"), 8);
    auto first = result->getArray("slots")->getObject(0);
    EXPECT_EQ(first->getValue<std::string>("slot_id"), "2030-01-07T09:00");
    EXPECT_EQ(first->getValue<std::string>("time"), "09:00");
}

TEST_F(Appointments, HasNoSlotsOnWeekends) {
    EXPECT_EQ(plugin.call(call, "find_slots", R"({"date":"2030-01-12"})")->getValue<int>("count"), 0);
}

TEST_F(Appointments, BooksAFreeSlotAndRemovesItFromFreeSlots) {
    auto result = plugin.call(call, "book_appointment",
                              R"({"slot_id":"2030-01-07T10:00","name":" Grace Hopper ","phone":"(555) 010-0199"})");
    ASSERT_TRUE(result->getValue<bool>("booked")) << result->has("error");
    EXPECT_EQ(result->getValue<std::string>("name"), "Grace Hopper");
    EXPECT_EQ(result->getValue<std::string>("booking_id").rfind("bk-", 0), 0u);
    EXPECT_EQ(result->getObject("slot")->getValue<std::string>("time"), "10:00");
    EXPECT_EQ(plugin.call(call, "find_slots", R"({"date":"2030-01-07"})")->getValue<int>("count"), 7);
}

TEST_F(Appointments, RefusesToBookATakenSlot) {
    bookFirstSlot();
    auto again = plugin.call(call, "book_appointment",
                             R"({"slot_id":"2030-01-07T09:00","name":"Someone Else","phone":"+15550100"})");
    EXPECT_FALSE(again->getValue<bool>("booked"));
    EXPECT_EQ(again->getValue<std::string>("reason"), "slot_taken");
}

TEST_F(Appointments, ReportsAnUnknownSlot) {
    auto result =
        plugin.call(call, "book_appointment", R"({"slot_id":"2030-01-07T23:00","name":"Ada","phone":"+15550100"})");
    EXPECT_EQ(result->getValue<std::string>("reason"), "no_such_slot");
}

TEST_F(Appointments, CancelsABookingAndFreesItsSlot) {
    const auto id = bookFirstSlot();
    auto cancelled = plugin.call(call, "cancel_appointment", R"({"booking_id":")" + id + R"("})");
    EXPECT_TRUE(cancelled->getValue<bool>("cancelled"));
    EXPECT_EQ(cancelled->getValue<std::string>("slot_id"), "2030-01-07T09:00");
    EXPECT_EQ(plugin.call(call, "find_slots", R"({"date":"2030-01-07"})")->getValue<int>("count"), 8);
    auto again = plugin.call(call, "cancel_appointment", R"({"booking_id":")" + id + R"("})");
    EXPECT_EQ(again->getValue<std::string>("reason"), "already_cancelled");
}

TEST_F(Appointments, ReportsAnUnknownBooking) {
    auto result = plugin.call(call, "cancel_appointment", R"({"booking_id":"bk-nope"})");
    EXPECT_FALSE(result->getValue<bool>("cancelled"));
    EXPECT_EQ(result->getValue<std::string>("reason"), "no_such_booking");
}

TEST_F(Appointments, RejectsMalformedArgumentsWithAnErrorForTheModel) {
    auto badDate = plugin.invoke(call, "find_slots", R"({"date":"2030-02-30"})");
    EXPECT_EQ(badDate.outcome, loader::ToolOutcome::BadArguments);
    EXPECT_NE(badDate.json.find("YYYY-MM-DD"), std::string::npos);
    EXPECT_EQ(plugin.invoke(call, "book_appointment", R"({"slot_id":"2030-01-07T09:00","phone":"+15550100"})").outcome,
              loader::ToolOutcome::BadArguments);
    EXPECT_EQ(plugin.invoke(call, "book_appointment", R"({"slot_id":"2030-01-07T09:00","name":"A","phone":"call me"})")
                  .outcome,
              loader::ToolOutcome::BadArguments);
    EXPECT_EQ(plugin.invoke(call, "book_appointment", "[1,2]").outcome, loader::ToolOutcome::BadArguments);
}

TEST_F(Appointments, KeepsBookingsInItsSqliteFileAcrossLoads) {
    const auto id = bookFirstSlot();
    PluginHarness reloaded(APPOINTMENTS_PLUGIN);
    auto result = reloaded.call(call, "cancel_appointment", R"({"booking_id":")" + id + R"("})");
    EXPECT_TRUE(result->getValue<bool>("cancelled"));
    EXPECT_TRUE(Poco::File(database_).exists());
}

TEST_F(Appointments, ASecondRunOfTheSameFunctionCallAnswersWithTheFirstBooking) {
    auto first = plugin.invoke(call, "book_appointment", kBookFirstSlot, std::chrono::seconds(10), "call_abc");
    ASSERT_EQ(first.outcome, loader::ToolOutcome::Ok) << first.json;
    EXPECT_NE(first.json.find(R"("booked":true)"), std::string::npos) << first.json;
    auto again = plugin.invoke(call, "book_appointment", kBookFirstSlot, std::chrono::seconds(10), "call_abc");
    EXPECT_EQ(again.json, first.json) << "same booking id, slot and name; not slot_taken";
    EXPECT_EQ(plugin.call(call, "find_slots", R"({"date":"2030-01-07"})")->getValue<int>("count"), 7);

    // Across loads too: the call id is kept with the booking in the SQLite file.
    PluginHarness reloaded(APPOINTMENTS_PLUGIN);
    EXPECT_EQ(reloaded.invoke(call, "book_appointment", kBookFirstSlot, std::chrono::seconds(10), "call_abc").json,
              first.json);
}

TEST_F(Appointments, AnotherFunctionCallOrNoCallIdStillFindsTheSlotTaken) {
    ASSERT_TRUE(plugin.call(call, "book_appointment", kBookFirstSlot, "call_one")->getValue<bool>("booked"));
    EXPECT_EQ(plugin.call(call, "book_appointment", kBookFirstSlot, "call_two")->getValue<std::string>("reason"),
              "slot_taken");
    EXPECT_EQ(plugin.call(call, "book_appointment", kBookFirstSlot)->getValue<std::string>("reason"), "slot_taken");
    // Bookings without a call id never count as the same call (NULLs, not "").
    auto free =
        plugin.call(call, "book_appointment", R"({"slot_id":"2030-01-07T10:00","name":"B","phone":"+15550100"})");
    auto other =
        plugin.call(call, "book_appointment", R"({"slot_id":"2030-01-07T11:00","name":"C","phone":"+15550100"})");
    EXPECT_TRUE(free->getValue<bool>("booked"));
    EXPECT_TRUE(other->getValue<bool>("booked"));
    EXPECT_NE(free->getValue<std::string>("booking_id"), other->getValue<std::string>("booking_id"));
}

TEST_F(Appointments, OpensABookCreatedBeforeCallIdsWereKept) {
    {
        Poco::Data::Session old(Poco::AutoPtr<Poco::Data::SessionImpl>(new Poco::Data::SQLite::SessionImpl(database_)));
        using Poco::Data::Keywords::now;
        old << "CREATE TABLE slots (slot_id TEXT PRIMARY KEY, day TEXT NOT NULL, time TEXT NOT NULL, booking_id TEXT)",
            now;
        old << "CREATE TABLE bookings (booking_id TEXT PRIMARY KEY, slot_id TEXT NOT NULL, name TEXT NOT NULL, "
               "phone TEXT NOT NULL, status TEXT NOT NULL)",
            now;
        old << "INSERT INTO slots VALUES ('2030-01-07T09:00', '2030-01-07', '09:00', 'bk-old00001')", now;
        old << "INSERT INTO slots VALUES ('2030-01-07T10:00', '2030-01-07', '10:00', NULL)", now;
        old << "INSERT INTO bookings VALUES ('bk-old00001', '2030-01-07T09:00', 'Old', '+15550100', 'booked')", now;
    }
    const std::string book10 = R"({"slot_id":"2030-01-07T10:00","name":"New","phone":"+15550100"})";
    auto first = plugin.call(call, "book_appointment", book10, "call_new");
    ASSERT_TRUE(first->getValue<bool>("booked"));
    EXPECT_EQ(plugin.call(call, "book_appointment", book10, "call_new")->getValue<std::string>("booking_id"),
              first->getValue<std::string>("booking_id"));
    EXPECT_TRUE(
        plugin.call(call, "cancel_appointment", R"({"booking_id":"bk-old00001"})")->getValue<bool>("cancelled"));
}

TEST_F(Appointments, RefusesADatabasePathOutsideItsStateDirectory) {
    for (const std::string path :
         {"/tmp/elsewhere.sqlite", "../elsewhere.sqlite", "books/../../elsewhere.sqlite", "..", "books/.."}) {
        useDatabase(path);
        auto output = plugin.invoke(call, "find_slots", R"({"date":"2030-01-07"})");
        EXPECT_EQ(output.outcome, loader::ToolOutcome::Error) << path;
        EXPECT_NE(output.json.find("relative path inside the plugin's state directory"), std::string::npos)
            << output.json;
    }
    EXPECT_FALSE(Poco::File(Poco::Path(dir_.path()).parent().toString() + "elsewhere.sqlite").exists());

    useDatabase("books/tenant-a.sqlite"); // a subdirectory is fine, and created
    EXPECT_EQ(plugin.call(call, "find_slots", R"({"date":"2030-01-07"})")->getValue<int>("count"), 8);
    EXPECT_TRUE(Poco::File(dir_.path() + "/books/tenant-a.sqlite").exists());
}

TEST_F(Appointments, TellsTheAgentTodaysDate) {
    CallSetup setup{"You book appointments.", "Hi"};
    plugin.plugin().decorateCall(call, setup);
    EXPECT_NE(setup.instructions.find("Today is"), std::string::npos);
}

} // namespace
