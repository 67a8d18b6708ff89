import { type ButtonHTMLAttributes, type ReactNode, forwardRef } from "react";
import { Icon, type IconName } from "./Icon";

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: "default" | "primary" | "danger" | "ghost";
  icon?: IconName;
  /** Icon-only button: `label` becomes its accessible name and tooltip. */
  iconOnly?: boolean;
  label?: string;
  children?: ReactNode;
}

export const Button = forwardRef<HTMLButtonElement, ButtonProps>(function Button(
  { variant = "default", icon, iconOnly, label, children, className, type, ...rest },
  ref,
) {
  const classes = ["iot-btn", `iot-btn--${variant}`, iconOnly ? "iot-btn--icon" : "", className ?? ""].join(" ");
  return (
    <button
      ref={ref}
      type={type ?? "button"}
      className={classes.trim()}
      aria-label={iconOnly ? label : undefined}
      title={iconOnly ? label : rest.title}
      {...rest}
    >
      {icon && <Icon name={icon} />}
      {!iconOnly && (children ?? label)}
    </button>
  );
});
