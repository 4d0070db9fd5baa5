#include "SdpAnswer.h"

#include "WebhookSender.h"

#include <Poco/String.h>

#include <algorithm>
#include <sstream>
#include <vector>

namespace sideband::simulator {
namespace {

// One m-line of the offer and the attributes of its section.
struct MediaSection {
    std::string media; // audio | video | application | ...
    std::string protocol;
    std::vector<std::string> formats;
    std::vector<std::string> attributes; // "a=" lines without the "a="
};

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) out.push_back(line);
    }
    return out;
}

std::vector<std::string> words(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string word; in >> word;)
        out.push_back(word);
    return out;
}

// The mids of the offer's session-level a=group:BUNDLE (none when it bundles nothing).
std::vector<std::string> bundleGroup(const std::string& offer) {
    for (const auto& line : lines(offer)) {
        if (line.rfind("m=", 0) == 0) break;
        if (line.rfind("a=group:BUNDLE", 0) == 0) return words(line.substr(14));
    }
    return {};
}

std::vector<MediaSection> mediaSections(const std::string& offer) {
    std::vector<MediaSection> sections;
    for (const auto& line : lines(offer)) {
        if (line.rfind("m=", 0) == 0) {
            const auto fields = words(line.substr(2));
            MediaSection section;
            if (fields.size() >= 3) {
                section.media = fields[0];
                section.protocol = fields[2];
                section.formats.assign(fields.begin() + 3, fields.end());
            }
            sections.push_back(std::move(section));
        } else if (line.rfind("a=", 0) == 0 && !sections.empty()) {
            sections.back().attributes.push_back(line.substr(2));
        }
    }
    return sections;
}

// The value of the section's first "a=<name>:<value>" ("" when absent).
std::string attribute(const MediaSection& section, const std::string& name) {
    const auto prefix = name + ":";
    for (const auto& attribute : section.attributes)
        if (attribute.rfind(prefix, 0) == 0) return attribute.substr(prefix.size());
    return {};
}

bool hasFlag(const MediaSection& section, const std::string& flag) {
    for (const auto& attribute : section.attributes)
        if (attribute == flag) return true;
    return false;
}

// The answer's direction is the mirror of the offer's (sendrecv when the offer names none).
std::string answerDirection(const MediaSection& section) {
    if (hasFlag(section, "sendonly")) return "recvonly";
    if (hasFlag(section, "recvonly")) return "sendonly";
    if (hasFlag(section, "inactive")) return "inactive";
    return "sendrecv";
}

// The offer's actpass (or active) is answered passive; its passive, active.
std::string answerSetup(const MediaSection& section) {
    return attribute(section, "setup") == "passive" ? "active" : "passive";
}

// The payload type whose rtpmap is opus/48000[/2] ("" when the offer has none).
std::string opusPayloadType(const MediaSection& section) {
    for (const auto& attribute : section.attributes) {
        if (attribute.rfind("rtpmap:", 0) != 0) continue;
        const auto fields = words(attribute.substr(7));
        if (fields.size() == 2 && Poco::icompare(fields[1].substr(0, 10), "opus/48000") == 0) return fields[0];
    }
    return {};
}

bool isDataChannel(const MediaSection& section) {
    return section.media == "application" && section.protocol.find("SCTP") != std::string::npos &&
           section.formats.size() == 1 && section.formats[0] == "webrtc-datachannel";
}

// 32 random bytes as "AB:CD:...": the shape of a sha-256 certificate fingerprint.
std::string fingerprint() {
    const auto digits = Poco::toUpper(randomId("", 64));
    std::string out;
    for (std::size_t i = 0; i < digits.size(); i += 2) {
        if (i) out += ':';
        out += digits.substr(i, 2);
    }
    return out;
}

} // namespace

std::string sdpOfferProblem(const std::string& offer) {
    if (offer.size() > kMaxSdpOffer) return "the SDP offer is larger than 64 KiB";
    if (offer.rfind("v=0\r\n", 0) != 0 && offer.rfind("v=0\n", 0) != 0) return "the sdp part is not SDP (no v=0)";
    if (mediaSections(offer).empty()) return "the SDP offer has no m-line";
    return {};
}

std::string makeSdpAnswer(const std::string& offer) {
    const auto sections = mediaSections(offer);
    const auto offeredBundle = bundleGroup(offer);
    const auto ufrag = randomId("", 8);
    const auto password = randomId("", 24);
    const auto print = fingerprint();

    std::string body;
    std::vector<std::string> bundled;
    const auto add = [&body](const std::string& line) { body += line + "\r\n"; };
    for (const auto& section : sections) {
        const auto mid = attribute(section, "mid");
        const auto opus = section.media == "audio" ? opusPayloadType(section) : std::string();
        const bool dataChannel = isDataChannel(section);
        if (opus.empty() && !dataChannel) { // rejected: port 0, nothing negotiated
            std::string formats;
            for (const auto& format : section.formats)
                formats += " " + format;
            add("m=" + section.media + " 0 " + section.protocol + formats);
            add("c=IN IP4 0.0.0.0");
            if (!mid.empty()) add("a=mid:" + mid);
            add("a=inactive");
            continue;
        }
        add("m=" + section.media + " 9 " + section.protocol + " " + (dataChannel ? "webrtc-datachannel" : opus));
        add("c=IN IP4 0.0.0.0");
        add("a=ice-ufrag:" + ufrag);
        add("a=ice-pwd:" + password);
        add("a=fingerprint:sha-256 " + print);
        add("a=setup:" + answerSetup(section));
        if (!mid.empty()) {
            add("a=mid:" + mid);
            if (std::find(offeredBundle.begin(), offeredBundle.end(), mid) != offeredBundle.end())
                bundled.push_back(mid); // an answer bundles only what the offer did
        }
        if (dataChannel) {
            add("a=sctp-port:5000");
            add("a=max-message-size:262144");
            continue;
        }
        add("a=" + answerDirection(section));
        add("a=rtcp-mux");
        for (const auto& attribute : section.attributes)
            if (attribute.rfind("rtpmap:" + opus + " ", 0) == 0 || attribute.rfind("fmtp:" + opus + " ", 0) == 0)
                add("a=" + attribute);
    }

    // o=: a fresh numeric session id, version 2, as browsers write it.
    std::string session = "v=0\r\no=- " + std::to_string(std::stoull(randomId("", 15), nullptr, 16)) +
                          " 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    if (!bundled.empty()) {
        session += "a=group:BUNDLE";
        for (const auto& mid : bundled)
            session += " " + mid;
        session += "\r\n";
    }
    session += "a=msid-semantic: WMS\r\n";
    return session + body;
}

} // namespace sideband::simulator
