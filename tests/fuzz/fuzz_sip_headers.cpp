// libFuzzer target: the SIP header parser (host/sip/SipHeaderParser.h).
// Input: lines "<name>:<value>" (a line without ':' is a value for "From"), carved into the
// webhook's sip_headers list; each value also goes through addressUser and normalizeE164.
// Properties (abort when violated):
//   - nothing throws or crashes;
//   - caller, dialed and every addressUser result are no longer than the input plus 2 (a NANP
//     number gains "+1");
//   - normalizeE164 returns only E.164 ("+" then 7 to 15 digits, the first not 0), and is
//     idempotent: normalising its own output gives the same number.
#include "FuzzSupport.h"

#include "sip/SipHeaderParser.h"

#include <cstdint>
#include <string>
#include <vector>

using namespace sideband;

namespace {
void checkE164(const std::optional<std::string>& number) {
    if (!number) return;
    FUZZ_CHECK(number->size() >= 8 && number->size() <= 16);
    FUZZ_CHECK((*number)[0] == '+' && (*number)[1] != '0');
    for (std::size_t i = 1; i < number->size(); ++i)
        FUZZ_CHECK((*number)[i] >= '0' && (*number)[i] <= '9');
    const auto again = sip::normalizeE164(*number);
    FUZZ_CHECK(again && *again == *number);
}
} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quietLogging();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Carver carver(data, size);
    std::vector<webhook::SipHeader> headers;
    while (!carver.empty() && headers.size() < 64) {
        const std::string line = carver.next();
        const auto colon = line.find(':');
        webhook::SipHeader header;
        if (colon == std::string::npos) {
            header.name = "From";
            header.value = line;
        } else {
            header.name = line.substr(0, colon);
            header.value = line.substr(colon + 1);
        }
        const std::string user = sip::addressUser(header.value);
        FUZZ_CHECK(user.size() <= size + 2);
        checkE164(sip::normalizeE164(header.value));
        checkE164(sip::normalizeE164(user));
        headers.push_back(std::move(header));
    }
    const auto parties = sip::parseCallParties(headers);
    FUZZ_CHECK(parties.caller.size() <= size + 2);
    FUZZ_CHECK(parties.dialed.size() <= size + 2);
    return 0;
}
