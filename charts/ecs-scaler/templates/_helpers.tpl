{{/* The objects' name: the release name, or <release>-ecs-scaler when it lacks the chart name. */}}
{{- define "ecs-scaler.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ecs-scaler.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ecs-scaler.labels" -}}
{{ include "ecs-scaler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/*
Where the scaler takes its policy sets from: "kubernetes" (serve --kubernetes: ScalingPolicySet
resources) or "files" (serve --policies: the ConfigMap of values `policies`). Any other value
fails the rendering; so do `policies` given to the kubernetes store, which would never read them.
*/}}
{{- define "ecs-scaler.policyStore" -}}
{{- $store := .Values.policyStore | default "kubernetes" -}}
{{- if not (has $store (list "kubernetes" "files")) -}}
{{- fail (printf "policyStore must be \"kubernetes\" (ScalingPolicySet resources, serve --kubernetes) or \"files\" (the ConfigMap of values.policies, serve --policies), not %q" (toString $store)) -}}
{{- end -}}
{{- if and (eq $store "kubernetes") .Values.policies -}}
{{- fail "policies is only read with policyStore: files; with policyStore: kubernetes, apply the policy sets as ScalingPolicySet resources instead" -}}
{{- end -}}
{{- $store -}}
{{- end -}}
