{{- define "iot-emulator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "iot-emulator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: iot-emulator
{{- end -}}

{{- define "iot-emulator.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "iot-emulator.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* The restricted Pod Security profile, for the operator and the dashboard. */}}
{{- define "iot-emulator.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "iot-emulator.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Namespaces the roles are bound in: the watched ones, or none (cluster-wide). */}}
{{- define "iot-emulator.dashboardNamespace" -}}
{{- if .Values.operator.watchNamespaces -}}{{ first .Values.operator.watchNamespaces }}{{- else -}}{{ .Release.Namespace }}{{- end -}}
{{- end -}}

{{/* The Secret holding the dashboard's bearer token: the user's, or the one the chart makes. */}}
{{- define "iot-emulator.dashboardSecret" -}}
{{- default (printf "%s-dashboard-token" (include "iot-emulator.fullname" .)) .Values.dashboard.auth.existingSecret -}}
{{- end -}}

{{/* The Host names the dashboard answers to (JSON list): its Service's names in the cluster, the ingress host, the user's. */}}
{{- define "iot-emulator.dashboardHosts" -}}
{{- $svc := printf "%s-dashboard" (include "iot-emulator.fullname" .) -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.dashboard.clusterDomain) -}}
{{- if .Values.dashboard.ingress.enabled -}}
{{- $hosts = append $hosts .Values.dashboard.ingress.host -}}
{{- end -}}
{{- concat $hosts .Values.dashboard.allowedHosts | uniq | toJson -}}
{{- end -}}

{{/* The Secret (key `token`) holding the emulator pods' capture token: the user's, or the one the chart makes. */}}
{{- define "iot-emulator.captureSecret" -}}
{{- default (printf "%s-capture-token" (include "iot-emulator.fullname" .)) .Values.capture.existingSecret -}}
{{- end -}}
