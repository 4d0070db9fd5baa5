#include "sip/SipHeaderParser.h"

#include <array>
#include <cctype>

namespace sideband::sip {
namespace {

// Header values are caller input relayed by OpenAI: anything longer than this is not a SIP
// address we can use, and bounding it keeps parsing cheap whatever arrives.
constexpr std::size_t kMaxHeaderValue = 4096;
constexpr std::size_t kMaxEntriesPerHeader = 16;
// Longer than any phone number or account name we would act on.
constexpr std::size_t kMaxUser = 64;

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

char lower(char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && equalsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view text) {
    const auto isSpace = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!text.empty() && isSpace(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && isSpace(text.back()))
        text.remove_suffix(1);
    return text;
}

// Splits a header value into its comma-separated entries; commas inside quoted display names
// ("Smith, John") and inside <...> do not separate.
std::vector<std::string_view> splitEntries(std::string_view value) {
    std::vector<std::string_view> entries;
    bool quoted = false;
    int angle = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i < value.size() && entries.size() < kMaxEntriesPerHeader; ++i) {
        const char c = value[i];
        if (quoted) {
            if (c == '\\')
                ++i; // quoted-pair: the next character is literal
            else if (c == '"')
                quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == '<') {
            ++angle;
        } else if (c == '>' && angle > 0) {
            --angle;
        } else if (c == ',' && angle == 0) {
            entries.push_back(trim(value.substr(start, i - start)));
            start = i + 1;
        }
    }
    if (entries.size() < kMaxEntriesPerHeader && start <= value.size())
        entries.push_back(trim(value.substr(std::min(start, value.size()))));
    return entries;
}

// One entry split into its URI and the header parameters after it (";tag=..", ";party=..").
struct Address {
    std::string_view uri;
    std::string_view headerParams;
};

Address splitAddress(std::string_view entry) {
    bool quoted = false;
    for (std::size_t i = 0; i < entry.size(); ++i) {
        const char c = entry[i];
        if (quoted) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == '<') {
            const auto close = entry.find('>', i + 1);
            if (close == std::string_view::npos) return {trim(entry.substr(i + 1)), {}};
            return {trim(entry.substr(i + 1, close - i - 1)), entry.substr(close + 1)};
        }
    }
    if (quoted) return {}; // an unterminated display name and no address
    // addr-spec without brackets: parameters may be the URI's or the header's; the user part
    // ends before them either way, so keep the whole entry.
    return {entry, entry};
}

// The value of a ;name=value parameter in a parameter list, or empty.
std::string_view parameter(std::string_view params, std::string_view name) {
    std::size_t pos = 0;
    while (pos < params.size()) {
        auto end = params.find(';', pos);
        if (end == std::string_view::npos) end = params.size();
        const auto param = trim(params.substr(pos, end - pos));
        const auto eq = param.find('=');
        if (eq != std::string_view::npos && equalsIgnoreCase(trim(param.substr(0, eq)), name))
            return trim(param.substr(eq + 1));
        pos = end + 1;
    }
    return {};
}

int hexValue(char c) {
    if (isDigit(c)) return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Percent-decodes (sip:%2B1415...) and drops anything that is not printable ASCII, so a raw user
// part can be logged and stored safely.
std::string cleanUser(std::string_view user) {
    std::string out;
    for (std::size_t i = 0; i < user.size(); ++i) {
        char c = user[i];
        if (c == '%' && i + 2 < user.size() && hexValue(user[i + 1]) >= 0 && hexValue(user[i + 2]) >= 0) {
            c = static_cast<char>(hexValue(user[i + 1]) * 16 + hexValue(user[i + 2]));
            i += 2;
        }
        if (c > 0x20 && c < 0x7f) out += c;
    }
    return out;
}

// tel:5550100;phone-context=+1-415 names +14155550100 (RFC 3966 local number in a global
// context); a domain-name context adds nothing we can dial.
std::string withPhoneContext(std::string user, std::string_view params) {
    if (user.empty() || user.front() == '+') return user;
    for (char c : user)
        if (!isDigit(c) && c != '-' && c != '.' && c != '(' && c != ')') return user;
    const auto context = cleanUser(parameter(params, "phone-context"));
    if (context.size() < 2 || context.front() != '+') return user;
    std::string digits = "+";
    for (char c : context) {
        if (isDigit(c))
            digits += c;
        else if (c != '+' && c != '-' && c != '.' && c != '(' && c != ')')
            return user;
    }
    return digits + user;
}

bool isNanp(std::string_view tenDigits) {
    return tenDigits.size() == 10 && tenDigits[0] >= '2' && tenDigits[3] >= '2';
}

std::optional<std::string> internationalDigits(std::string_view digits) {
    if (digits.size() < 7 || digits.size() > 15 || digits.front() == '0') return std::nullopt;
    return "+" + std::string(digits);
}

enum class Party { Caller, Dialed };

struct HeaderKind {
    std::string_view name;
    std::string_view compact; // RFC 3261 compact form, or empty
};

constexpr std::array<HeaderKind, 3> kCallerHeaders{
    {{"P-Asserted-Identity", {}}, {"Remote-Party-ID", {}}, {"From", "f"}}};
constexpr std::array<HeaderKind, 2> kDialedHeaders{{{"Diversion", {}}, {"To", "t"}}};

template <std::size_t N>
std::string findParty(const std::vector<webhook::SipHeader> &headers, const std::array<HeaderKind, N> &kinds,
                      Party party) {
    std::string firstRaw;
    for (const auto &kind : kinds) {
        for (const auto &header : headers) {
            const auto name = trim(header.name);
            if (!equalsIgnoreCase(name, kind.name) && (kind.compact.empty() || !equalsIgnoreCase(name, kind.compact)))
                continue;
            if (header.value.size() > kMaxHeaderValue) continue;
            for (const auto entry : splitEntries(header.value)) {
                // Remote-Party-ID also describes the called party; only the calling one is ours.
                if (party == Party::Caller && equalsIgnoreCase(kind.name, "Remote-Party-ID") &&
                    equalsIgnoreCase(parameter(splitAddress(entry).headerParams, "party"), "called"))
                    continue;
                const auto user = addressUser(entry);
                if (user.empty()) continue;
                if (auto number = normalizeE164(user)) return *number;
                if (firstRaw.empty()) firstRaw = user;
            }
        }
    }
    return firstRaw;
}

} // namespace

std::string addressUser(std::string_view address) {
    if (address.size() > kMaxHeaderValue) return {};
    const auto uri = splitAddress(trim(address)).uri;
    std::string_view user;
    std::string_view params;
    if (startsWithIgnoreCase(uri, "tel:")) {
        const auto rest = uri.substr(4);
        const auto semi = rest.find(';');
        user = rest.substr(0, semi);
        if (semi != std::string_view::npos) params = rest.substr(semi);
    } else {
        auto rest = uri;
        const bool sip = startsWithIgnoreCase(uri, "sip:") || startsWithIgnoreCase(uri, "sips:");
        if (sip) rest = rest.substr(rest.find(':') + 1);
        const auto at = rest.find('@');
        if (at == std::string_view::npos) {
            if (sip) return {}; // sip:host has no user part
            // A bare number some gateways send ("+14155550100", "+1415...;tag=x").
            user = rest.substr(0, rest.find(';'));
        } else {
            auto userinfo = rest.substr(0, at);
            userinfo = userinfo.substr(0, userinfo.find(':')); // drop a (deprecated) password
            const auto semi = userinfo.find(';');
            user = userinfo.substr(0, semi);
            if (semi != std::string_view::npos) params = userinfo.substr(semi);
        }
    }
    auto cleaned = cleanUser(trim(user));
    if (cleaned.size() > kMaxUser) return {};
    return withPhoneContext(std::move(cleaned), params);
}

std::optional<std::string> normalizeE164(std::string_view number) {
    number = trim(number);
    if (number.empty() || number.size() > kMaxUser) return std::nullopt;
    const bool plus = number.front() == '+';
    if (plus) number.remove_prefix(1);
    std::string digits;
    for (char c : number) {
        if (isDigit(c))
            digits += c;
        else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')')
            return std::nullopt;
    }
    if (digits.empty()) return std::nullopt;
    if (plus) return internationalDigits(digits);

    const std::string_view view = digits;
    if (view.size() == 11 && view.front() == '1' && isNanp(view.substr(1))) return "+" + digits;
    if (isNanp(view)) return "+1" + digits;
    if (view.substr(0, 3) == "011") return internationalDigits(view.substr(3));
    if (view.substr(0, 2) == "00") return internationalDigits(view.substr(2));
    return std::nullopt;
}

CallParties parseCallParties(const std::vector<webhook::SipHeader> &headers) {
    return {findParty(headers, kCallerHeaders, Party::Caller), findParty(headers, kDialedHeaders, Party::Dialed)};
}

} // namespace sideband::sip
