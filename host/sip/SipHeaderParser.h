#pragma once

#include "webhook/WebhookEvent.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sideband::sip {

// Who called and which number they reached, from the webhook's `sip_headers`.
// Each is an E.164 number ("+14155550100") when the header's user part is a phone number that can
// be normalised, otherwise the user part as written (e.g. "anonymous", "proj_abc"), or empty when
// no usable header is present. The values come from the caller's network: untrusted, bounded.
struct CallParties {
    std::string caller;
    std::string dialed;
};

// Precedence (first header that yields a phone number wins; if none does, the first non-empty
// user part in the same order):
//   caller: P-Asserted-Identity (asserted by the carrier, RFC 3325), Remote-Party-ID (its
//           pre-standard predecessor; entries with party=called are skipped), From / f (set by the
//           calling device, trivially spoofed, and often "anonymous" when PAI holds the number).
//   dialed: Diversion (forwarded calls: the first entry is the most recent redirection, i.e. the
//           number that forwarded the call to us, which is the one a tenant owns; RFC 5806 lists
//           the newest first), then To / t (for forwarded calls To is usually OpenAI's SIP URI).
// Header names are case-insensitive; repeated headers and comma-separated entries are tried in
// order, so the first one wins.
CallParties parseCallParties(const std::vector<webhook::SipHeader> &headers);

// The user part of one SIP/tel address ("\"Alice\" <sip:+1415...@host>;tag=x" -> "+1415..."),
// percent-decoded, without user parameters; for tel: URIs and user=phone users a global
// phone-context ("tel:5550100;phone-context=+1415") is prepended. Empty if there is none.
std::string addressUser(std::string_view address);

// Normalises a phone number to E.164 ("+" then 7 to 15 digits, the first not 0), or nullopt.
// Visual separators (space - . ( )) are ignored. Rules for numbers written without "+":
//   - 11 digits starting with 1, or 10 digits, that form a NANP number (area code and exchange
//     start with 2-9): +1 and the ten digits;
//   - an international call prefix, 00 (ITU) or 011 (NANP), followed by 7 to 15 digits: + and
//     those digits;
//   - anything else (national numbers with a trunk 0, short codes, bare digit strings that might
//     be international) is ambiguous without knowing the caller's country: nullopt.
std::optional<std::string> normalizeE164(std::string_view number);

} // namespace sideband::sip
