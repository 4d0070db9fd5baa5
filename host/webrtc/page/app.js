// The try-it page: the browser's side of a Sideband WebRTC call (docs/webrtc.md). The host creates
// the call at OpenAI with the tenant's instructions and tools; this page only holds a web token.
"use strict";

const api = "/api/v1/webrtc/calls";
const $ = (id) => document.getElementById(id);
let pc = null;
let microphone = null;
let callId = null;
let next = 0;
let polling = null; // the next poll's timer: one request at a time, never two with the same `next`

function log(text, kind) {
  const line = document.createElement("div");
  if (kind) line.className = kind;
  line.textContent = new Date().toISOString().slice(11, 23) + "  " + text;
  $("log").appendChild(line);
  $("log").scrollTop = $("log").scrollHeight;
}

function status(text) {
  $("status").textContent = text;
}

function headers(extra) {
  return Object.assign({ Authorization: "Bearer " + $("token").value.trim() }, extra || {});
}

async function failure(response) {
  let detail = response.statusText;
  try {
    const body = await response.json();
    detail = body.detail + (body.reason ? " (" + body.reason + ")" : "") + (body.error ? ": " + body.error : "");
  } catch (e) {}
  return "HTTP " + response.status + ": " + detail;
}

function describe(event) {
  switch (event.type) {
    case "session.open": return ["session open: the host is attached to the call", null];
    case "function_call": return ["tool call " + event.name + "(" + event.arguments + ")  [" + event.call_id + "]", "tool"];
    case "function_call_output": return ["tool output " + event.output + "  [" + event.call_id + "]", "output"];
    case "response.done": return ["response " + event.response_id + " " + event.status, null];
    case "transcript": return [event.speaker + ": " + event.text, null];
    case "call.ended": return ["call ended: " + event.reason, "end"];
    default: return [JSON.stringify(event), null];
  }
}

async function poll() {
  polling = null;
  if (!callId) return;
  try {
    const response = await fetch(api + "/events?call_id=" + encodeURIComponent(callId) + "&after=" + next,
                                 { headers: headers() });
    if (!response.ok) { log("event log: " + (await failure(response)), "error"); return stop(); }
    const page = await response.json();
    for (const event of page.events) {
      const [text, kind] = describe(event);
      log(text, kind);
    }
    next = page.next;
    if (page.ended) { status("ended"); return stop(); }
  } catch (e) {
    log("event log: " + e, "error");
  }
  if (callId) polling = setTimeout(poll, 500);
}

function stop() {
  if (polling) clearTimeout(polling);
  polling = null;
  callId = null;
  if (pc) pc.close();
  pc = null;
  if (microphone) microphone.getTracks().forEach((track) => track.stop());
  microphone = null;
  $("connect").disabled = false;
  $("hangup").disabled = true;
}

async function connect() {
  $("connect").disabled = true;
  status("asking for the microphone");
  try {
    microphone = await navigator.mediaDevices.getUserMedia({ audio: true });
    pc = new RTCPeerConnection();
    pc.ontrack = (e) => { $("remote").srcObject = e.streams[0]; };
    pc.onconnectionstatechange = () => log("media: " + pc.connectionState);
    microphone.getTracks().forEach((track) => pc.addTrack(track, microphone));
    pc.createDataChannel("oai-events").onmessage = (e) => log("model event: " + e.data.slice(0, 200));
    await pc.setLocalDescription(await pc.createOffer());
    status("creating the call");
    const response = await fetch(api, { method: "POST", headers: headers({ "Content-Type": "application/sdp" }),
                                        body: pc.localDescription.sdp });
    if (response.status !== 201) throw new Error(await failure(response));
    callId = response.headers.get("X-Sideband-Call-Id");
    log("call " + callId + " created");
    await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
    status("connected");
    $("hangup").disabled = false;
    next = 0;
    poll();
  } catch (e) {
    log(String(e.message || e), "error");
    status("failed");
    if (callId) await hangup(); // created but unusable here: do not leave it holding a line
    stop();
  }
}

async function hangup() {
  if (!callId) return;
  $("hangup").disabled = true;
  status("hanging up");
  try {
    const response = await fetch(api + "/hangup?call_id=" + encodeURIComponent(callId),
                                 { method: "POST", headers: headers() });
    if (!response.ok) log("hang up: " + (await failure(response)), "error");
    else log("hang up sent");
  } catch (e) {
    log("hang up: " + e, "error");
  }
}

$("connect").addEventListener("click", connect);
$("hangup").addEventListener("click", hangup);
