#pragma once

#include "calls/SessionLauncher.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <string>

// The Realtime API's JSON shapes the host sends, in one place (reference: openai-realtime-sip.md).
namespace sideband::openai::realtime {

// The accept body: a realtime session object. "type":"realtime" is required (without it the API
// answers 200 and the call then dies); audio formats are left out for SIP (codec is negotiated).
std::string acceptBody(const calls::AcceptedCall& call, const std::string& defaultModel);

// {"type":"session.update","session":{"type":"realtime","instructions",...,"tools":[...],"tool_choice":"auto"}}
Poco::JSON::Object::Ptr sessionUpdate(const calls::AcceptedCall& call);

// {"type":"response.create","response":{"instructions":"<the session's instructions>\n\nStart the call
// now: greet the caller with \"...\""}}: spoken under the tenant's instructions, not instead of them.
Poco::JSON::Object::Ptr greeting(const tenants::Instructions& instructions);

// {"type":"conversation.item.create","item":{"type":"function_call_output","call_id":...,"output":...}}
Poco::JSON::Object::Ptr functionCallOutput(const std::string& functionCallId, const std::string& output);

// {"type":"response.create"}: the output alone does not start a response.
Poco::JSON::Object::Ptr responseCreate();

} // namespace sideband::openai::realtime
