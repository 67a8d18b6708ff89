/** The profile library (for the picker and the grid's vendor/model), and one profile's fingerprints. */
import { useMemo } from "react";
import type { ProfileSummary } from "../api/types";
import { type Fingerprint, fingerprintOf } from "../lib/fingerprint";
import { useTab } from "./TabContext";
import { type QueryState, useQuery } from "./useQuery";

export interface Profiles {
  state: QueryState<ProfileSummary[]>;
  byName: ReadonlyMap<string, ProfileSummary>;
  reload: () => Promise<void>;
}

export function useProfiles(): Profiles {
  const { api } = useTab();
  const { state, reload } = useQuery(api.baseUrl + "|profiles", api.listProfiles);
  const byName = useMemo(() => new Map((state.data ?? []).map((p) => [p.name, p])), [state.data]);
  return { state, byName, reload };
}

export function useFingerprint(name: string | null): QueryState<Fingerprint> {
  const { api } = useTab();
  const { state } = useQuery(name, async () => fingerprintOf(await api.getProfile(name!)));
  return state;
}
