/** A handful of 16px line icons (inline SVG: no icon font, nothing to load). Decorative: text labels carry meaning. */
const PATHS = {
  play: "M5 3.5v9l7.5-4.5z",
  stop: "M4 4h8v8H4z",
  plus: "M8 3v10M3 8h10",
  upload: "M8 11V3M4.5 6.5 8 3l3.5 3.5M3 13h10",
  download: "M8 3v8M4.5 7.5 8 11l3.5-3.5M3 13h10",
  edit: "M10.5 3.5l2 2L6 12H4v-2zM9 5l2 2",
  trash: "M3.5 4.5h9M6.5 4.5V3h3v1.5M4.5 4.5l.7 8.5h5.6l.7-8.5",
  search: "M7 11.5a4.5 4.5 0 1 1 0-9 4.5 4.5 0 0 1 0 9zM10.3 10.3 13.5 13.5",
  close: "M4 4l8 8M12 4l-8 8",
  refresh: "M12.5 8a4.5 4.5 0 1 1-1.3-3.2M12.5 3v2.5H10",
  chevron: "M6 4l4 4-4 4",
  pause: "M5 3.5h2v9H5zM9 3.5h2v9H9z",
} as const;

export type IconName = keyof typeof PATHS;

export interface IconProps {
  name: IconName;
  size?: number;
}

export function Icon({ name, size = 14 }: IconProps) {
  const filled = name === "play" || name === "stop" || name === "pause";
  return (
    <svg
      className="iot-icon"
      width={size}
      height={size}
      viewBox="0 0 16 16"
      aria-hidden="true"
      focusable="false"
      fill={filled ? "currentColor" : "none"}
      stroke={filled ? "none" : "currentColor"}
      strokeWidth={1.5}
      strokeLinecap="round"
      strokeLinejoin="round"
    >
      <path d={PATHS[name]} />
    </svg>
  );
}
