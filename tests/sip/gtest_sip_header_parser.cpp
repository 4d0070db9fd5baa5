#include "sip/SipHeaderParser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using sideband::sip::addressUser;
using sideband::sip::CallParties;
using sideband::sip::normalizeE164;
using sideband::sip::parseCallParties;
using sideband::webhook::SipHeader;

namespace {

struct HeaderCase {
    const char *name; // the test's name: what real-world form it covers
    std::vector<SipHeader> headers;
    std::string caller;
    std::string dialed;
};

const std::string kOpenAi = "sip.api.openai.com";

std::vector<HeaderCase> headerCases() {
    return {
        {"ReferencePayload",
         {{"From", "\"Alice\" <sip:+14155550100@sip.example.com>;tag=9fxced76sl"},
          {"To", "<sip:+18005550123@sip.api.openai.com>"},
          {"Call-ID", "abc@10.0.0.1"}},
         "+14155550100",
         "+18005550123"},
        {"SpecExampleBracketsOnly",
         {{"From", "<sip:+15551234567@example.com>"}, {"To", "<sip:+15559876543@openai.com>"}},
         "+15551234567",
         "+15559876543"},
        {"AddrSpecWithoutBrackets",
         {{"From", "sip:+14155550100@carrier.example;tag=1"}, {"To", "sip:+18005550123@" + kOpenAi}},
         "+14155550100",
         "+18005550123"},
        {"SipsScheme",
         {{"From", "<sips:+14155550100@secure.example>;tag=z"}, {"To", "<sips:+18005550123@" + kOpenAi + ">"}},
         "+14155550100",
         "+18005550123"},
        {"TelUris", {{"From", "<tel:+14155550100>;tag=a"}, {"To", "tel:+18005550123"}}, "+14155550100", "+18005550123"},
        {"TelWithVisualSeparators",
         {{"From", "<tel:+1-415-555-0100>"}, {"To", "<tel:+1.800.555.0123>"}},
         "+14155550100",
         "+18005550123"},
        {"TelWithParentheses",
         {{"From", "<tel:+1(415)555-0100>"}, {"To", "<tel:+44-(20)-7946-0958>"}},
         "+14155550100",
         "+442079460958"},
        {"TelLocalNumberWithGlobalPhoneContext",
         {{"From", "<tel:555-0100;phone-context=+1-415>"}, {"To", "<tel:+18005550123>"}},
         "+14155550100",
         "+18005550123"},
        {"TelLocalNumberWithDomainPhoneContextStaysRaw",
         {{"From", "<tel:7042;phone-context=example.com>"}, {"To", "<tel:+18005550123>"}},
         "7042",
         "+18005550123"},
        {"SipUserPhoneParameters",
         {{"From", "<sip:+14155550100;npdi;rn=+14155550000@gw.example;user=phone>;tag=77"},
          {"To", "<sip:+18005550123@" + kOpenAi + ";user=phone>"}},
         "+14155550100",
         "+18005550123"},
        {"SipUserWithPhoneContext",
         {{"From", "<sip:5550100;phone-context=+1415@gw.example;user=phone>"}, {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"QuotedDisplayNameWithComma",
         {{"From", "\"Smith, John\" <sip:+14155550100@example.com>;tag=1"}, {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"QuotedDisplayNameWithAngleBrackets",
         {{"From", "\"<sip:+19995550000@evil.example>\" <sip:+14155550100@example.com>"},
          {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"QuotedDisplayNameWithEscapedQuote",
         {{"From", "\"Bob \\\"The Builder\\\", Jr\" <sip:+14155550100@example.com>"}, {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"UnquotedDisplayName",
         {{"From", "Alice Example <sip:+14155550100@example.com>;tag=2"}, {"To", "Acme <sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"ElevenDigitNanpWithoutPlus",
         {{"From", "<sip:14155550100@carrier.example>"}, {"To", "<sip:18005550123@" + kOpenAi + ">"}},
         "+14155550100",
         "+18005550123"},
        {"TenDigitNanpWithoutPlus",
         {{"From", "<sip:4155550100@carrier.example>"}, {"To", "<sip:8005550123@" + kOpenAi + ">"}},
         "+14155550100",
         "+18005550123"},
        {"ItuInternationalPrefix",
         {{"From", "<sip:00442079460958@gw.example>"}, {"To", "<sip:+18005550123@x>"}},
         "+442079460958",
         "+18005550123"},
        {"NanpInternationalPrefix",
         {{"From", "<sip:011442079460958@gw.example>"}, {"To", "<sip:+18005550123@x>"}},
         "+442079460958",
         "+18005550123"},
        {"NationalNumberWithTrunkPrefixStaysRaw",
         {{"From", "<sip:02079460958@gw.example>"}, {"To", "<sip:+18005550123@x>"}},
         "02079460958",
         "+18005550123"},
        {"PercentEncodedPlus",
         {{"From", "<sip:%2B14155550100@example.com>"}, {"To", "<sip:%2b18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"AnonymousCaller",
         {{"From", "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=hyh8"}, {"To", "<sip:+18005550123@x>"}},
         "anonymous",
         "+18005550123"},
        {"AnonymousFromWithAssertedIdentity",
         {{"From", "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1"},
          {"P-Asserted-Identity", "<sip:+14155550100@carrier.example>"},
          {"Privacy", "id"},
          {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"AssertedIdentityBeatsFrom",
         {{"From", "<sip:+19995550000@spoofed.example>"},
          {"P-Asserted-Identity", "\"Carrier Name\" <sip:+14155550100@carrier.example;user=phone>"},
          {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"AssertedIdentityWithSipAndTelEntries",
         {{"P-Asserted-Identity", "<sip:alice@carrier.example>, <tel:+14155550100>"},
          {"From", "<sip:alice@carrier.example>"},
          {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"RemotePartyIdBeatsFrom",
         {{"From", "<sip:1000@pbx.local>"},
          {"Remote-Party-ID", "\"Alice\" <sip:+14155550100@pbx.local>;party=calling;screen=yes;privacy=off"},
          {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"RemotePartyIdOfCalledPartyIsSkipped",
         {{"Remote-Party-ID", "<sip:+18005550123@x>;party=called"},
          {"From", "<sip:+14155550100@pbx.local>"},
          {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"AssertedIdentityBeatsRemotePartyId",
         {{"Remote-Party-ID", "<sip:+19995550000@pbx.local>;party=calling"},
          {"P-Asserted-Identity", "<tel:+14155550100>"},
          {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"ForwardedCallUsesDiversion",
         {{"From", "<sip:+14155550100@carrier.example>"},
          {"To", "<sip:proj_abc123@sip.api.openai.com>"},
          {"Diversion", "<sip:+18005550123@carrier.example>;reason=unconditional;counter=1;privacy=off"}},
         "+14155550100",
         "+18005550123"},
        {"FirstOfSeveralDiversionEntriesWins",
         {{"From", "<sip:+14155550100@carrier.example>"},
          {"To", "<sip:proj_abc123@" + kOpenAi + ">"},
          {"Diversion",
           "<sip:+18005550123@a.example>;reason=no-answer, <sip:+18005550188@b.example>;reason=user-busy"}},
         "+14155550100",
         "+18005550123"},
        {"FirstOfRepeatedDiversionHeadersWins",
         {{"Diversion", "<tel:+18005550123>;reason=unconditional"},
          {"Diversion", "<tel:+18005550188>;reason=unconditional"},
          {"To", "<sip:proj_abc123@x>"},
          {"From", "<sip:+14155550100@x>"}},
         "+14155550100",
         "+18005550123"},
        {"ProjectUriWithoutDiversionIsRawUser",
         {{"From", "<sip:+14155550100@x>"}, {"To", "<sip:proj_abc123@sip.api.openai.com>"}},
         "+14155550100",
         "proj_abc123"},
        {"RepeatedFromFirstWins",
         {{"From", "<sip:+14155550100@x>"}, {"From", "<sip:+14155550111@x>"}, {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"HeaderNamesAreCaseInsensitive",
         {{"FROM", "<sip:+14155550100@x>"}, {"to", "<sip:+18005550123@x>"}, {"p-asserted-identity", ""}},
         "+14155550100",
         "+18005550123"},
        {"CompactHeaderNames",
         {{"f", "<sip:+14155550100@x>;tag=1"}, {"T", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"HeaderNameWithSurroundingSpace",
         {{" From ", "<sip:+14155550100@x>"}, {"To", "  <sip:+18005550123@x>  "}},
         "+14155550100",
         "+18005550123"},
        {"HostPortAndUriParameters",
         {{"From", "<sip:+14155550100@203.0.113.5:5060;transport=udp>;tag=as1"},
          {"To", "<sip:+18005550123@" + kOpenAi + ":5061;transport=tls>"}},
         "+14155550100",
         "+18005550123"},
        {"UserWithPassword",
         {{"From", "<sip:+14155550100:secret@x>"}, {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"BareNumberValues", {{"From", "+14155550100"}, {"To", "+18005550123;tag=3"}}, "+14155550100", "+18005550123"},
        {"ExtensionCallerStaysRaw",
         {{"From", "<sip:1001@pbx.local>"}, {"To", "<sip:+18005550123@x>"}},
         "1001",
         "+18005550123"},
        {"NoHeaders", {}, "", ""},
        {"OnlyUnrelatedHeaders", {{"Call-ID", "x@y"}, {"Via", "SIP/2.0/UDP 10.0.0.1"}}, "", ""},
        {"HostOnlyUriHasNoUser", {{"From", "<sip:carrier.example>"}, {"To", "<sip:x>"}}, "", ""},
        {"EmptyValues", {{"From", ""}, {"To", "<>"}}, "", ""},
        {"UnterminatedBracketStillParses",
         {{"From", "\"Alice\" <sip:+14155550100@x"}, {"To", "<sip:+18005550123@x>"}},
         "+14155550100",
         "+18005550123"},
        {"UnterminatedQuoteHasNoAddress",
         {{"From", "\"Alice <sip:+14155550100@x>"}, {"To", "<sip:+18005550123@x>"}},
         "",
         "+18005550123"},
        {"ControlCharactersAreDropped",
         {{"From", "<sip:evil%0d%0aX-Injected@x>"}, {"To", "<sip:+18005550123@x>"}},
         "evilX-Injected",
         "+18005550123"},
        {"OverlongUserIsIgnored",
         {{"From", "<sip:" + std::string(500, 'a') + "@x>"}, {"To", "<sip:+18005550123@x>"}},
         "",
         "+18005550123"},
        {"OverlongHeaderValueIsIgnored",
         {{"From", "<sip:+14155550100@x>;" + std::string(10000, 'p')},
          {"From", "<sip:+14155550111@x>"},
          {"To", "<sip:+18005550123@x>"}},
         "+14155550111",
         "+18005550123"},
    };
}

class SipHeaderForms : public ::testing::TestWithParam<HeaderCase> {};

TEST_P(SipHeaderForms, ExtractsCallerAndDialed) {
    const auto &c = GetParam();
    const CallParties parties = parseCallParties(c.headers);
    EXPECT_EQ(parties.caller, c.caller);
    EXPECT_EQ(parties.dialed, c.dialed);
}

INSTANTIATE_TEST_SUITE_P(RealWorld, SipHeaderForms, ::testing::ValuesIn(headerCases()),
                         [](const ::testing::TestParamInfo<HeaderCase> &info) { return std::string(info.param.name); });

TEST(NormalizeE164, AcceptsAndNormalisesPhoneNumbers) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"+14155550100", "+14155550100"},
        {" +1 (415) 555-0100 ", "+14155550100"},
        {"+44 20 7946 0958", "+442079460958"},
        {"14155550100", "+14155550100"},
        {"4155550100", "+14155550100"},
        {"(415) 555.0100", "+14155550100"},
        {"0044 20 7946 0958", "+442079460958"},
        {"011 44 20 7946 0958", "+442079460958"},
        {"+6834002", "+6834002"},
        {"+123456789012345", "+123456789012345"},
    };
    for (const auto &[input, expected] : cases)
        EXPECT_EQ(normalizeE164(input), expected) << input;
}

TEST(NormalizeE164, RefusesWhatIsNotClearlyANumber) {
    for (const char *input : {
             "",
             "+",
             "anonymous",
             "+1-800",
             "+123456",
             "+1234567890123456",
             "+0441234567",
             "1+4155550100",
             "++14155550100",
             "02079460958",
             "12345",
             "1001",
             "1234567890", // NANP area code cannot start with 1
             "4151550100", // nor the exchange
             "10155550100",
             "447700900123",
             "00",
             "0011",
             "+1415555010x",
             "+1 415 555 0100 ext 7",
         })
        EXPECT_FALSE(normalizeE164(input)) << input;
    EXPECT_FALSE(normalizeE164(std::string(100, '1')));
}

TEST(AddressUser, ReturnsUserPartOfOneAddress) {
    EXPECT_EQ(addressUser("\"A, B\" <sip:+1415@h;user=phone>;tag=x"), "+1415");
    EXPECT_EQ(addressUser("<tel:+1-415-555-0100;ext=12>"), "+1-415-555-0100");
    EXPECT_EQ(addressUser("sip:host.example"), "");
    EXPECT_EQ(addressUser(std::string(10000, '<')), "");
}

TEST(SipHeaderParser, SurvivesArbitraryBytes) {
    // Values are untrusted: every prefix of a nasty value must parse without crashing.
    const std::string nasty = "\"\\\"<,>\" <sip:%%%2%zz;phone-context=+;;@@<<>>,,\"\\";
    for (std::size_t i = 0; i <= nasty.size(); ++i) {
        const std::string value = nasty.substr(0, i);
        const auto parties = parseCallParties({{"From", value}, {"P-Asserted-Identity", value}, {"Diversion", value}});
        EXPECT_LE(parties.caller.size(), 64u);
    }
    std::string binary;
    for (int c = 0; c < 256; ++c)
        binary += static_cast<char>(c);
    const auto parties = parseCallParties({{"From", "<sip:" + binary + "@x>"}, {"To", binary}});
    for (char c : parties.caller + parties.dialed)
        EXPECT_TRUE(c > 0x20 && c < 0x7f);
}

} // namespace
