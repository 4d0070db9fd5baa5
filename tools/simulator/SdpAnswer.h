#pragma once

#include <cstddef>
#include <string>

namespace sideband::simulator {

// The largest SDP offer the simulator takes (a browser's is 2-6 KiB).
constexpr std::size_t kMaxSdpOffer = 64 * 1024;

// Why `offer` is not an SDP offer the simulator can answer (empty: it is one): it must start with
// "v=0", fit kMaxSdpOffer and have at least one m-line.
std::string sdpOfferProblem(const std::string& offer);

// The answer OpenAI's side gives a browser's offer, in a shape Chromium's setRemoteDescription
// accepts. Per offer m-line, in order: the same media and protocol on port 9, `c=IN IP4 0.0.0.0`,
// the offer's a=mid, fresh ICE credentials, one DTLS fingerprint (sha-256), a=setup answering the
// offer's (actpass -> passive), the mirror of its direction; audio: the offer's opus payload type
// with its rtpmap and fmtp, a=rtcp-mux; a data channel (UDP/DTLS/SCTP webrtc-datachannel):
// a=sctp-port:5000 and a=max-message-size. Anything else (video, audio without opus) is rejected
// with port 0. Session level: a=group:BUNDLE of the accepted mids the offer bundled, and
// a=msid-semantic: WMS. CRLF line ends. Call sdpOfferProblem first.
std::string makeSdpAnswer(const std::string& offer);

} // namespace sideband::simulator
