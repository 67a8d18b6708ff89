/** The traffic view: the fleet-wide DHCP timeline and the protocol mix, from the live events. */
import type { Device } from "../../api/types";
import { useFleets } from "../../hooks/useFleets";
import { DhcpStorm } from "./DhcpStorm";
import { ProtocolMix } from "./ProtocolMix";
import "../../styles/base.css";
import "./traffic.css";

export interface TrafficViewProps {
  devices: readonly Device[];
}

export function TrafficView({ devices }: TrafficViewProps) {
  const { state } = useFleets();
  return (
    <div className="iot-traffic">
      <DhcpStorm />
      <ProtocolMix devices={devices} fleets={state.data ?? []} />
    </div>
  );
}
