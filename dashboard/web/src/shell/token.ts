/**
 * The standalone shell's token: `iotemu dashboard` prints `http://host:port/?token=...`. The token
 * is taken from the address once, kept for the browser session, and removed from the address bar
 * (so it is not bookmarked or shared by accident).
 */
const KEY = "iotemu.dashboard.token";

export function takeToken(location: Location = window.location, history: History = window.history): string | null {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given) {
    try {
      sessionStorage.setItem(KEY, given);
    } catch {
      // storage refused (private mode): the token lives only in memory
    }
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    return given;
  }
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}
