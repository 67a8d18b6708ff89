/** MAC helpers for the form: a random address inside a vendor OUI, and the service's syntax rule. */

export const UNICAST_MAC = /^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$/;

export function randomMac(oui: string, random: () => number = Math.random): string {
  const tail = Array.from({ length: 3 }, () =>
    Math.floor(random() * 256)
      .toString(16)
      .padStart(2, "0"),
  );
  return [oui.toLowerCase(), ...tail].join(":");
}
