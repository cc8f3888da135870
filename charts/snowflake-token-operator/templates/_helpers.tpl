{{/*
The chart's name, or nameOverride.
*/}}
{{- define "snowflake-token-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: the release name when it already contains the
chart's name, else "<release>-<chart>"; 63 characters at most (a DNS label).
*/}}
{{- define "snowflake-token-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
"<chart>-<version>", for the helm.sh/chart label.
*/}}
{{- define "snowflake-token-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object of the release (the emulator's add their own name and component).
*/}}
{{- define "snowflake-token-operator.labels" -}}
helm.sh/chart: {{ include "snowflake-token-operator.chart" . }}
{{ include "snowflake-token-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: snowflake-token-operator
{{- end }}

{{/*
The labels that select the operator's pods (and its metrics Service).
*/}}
{{- define "snowflake-token-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "snowflake-token-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The emulator's own selector labels: another name, so that nothing selecting the
operator's pods or Services (the ServiceMonitor, the PodDisruptionBudget) selects it.
*/}}
{{- define "snowflake-token-operator.emulatorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "snowflake-token-operator.name" . }}-emulator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "snowflake-token-operator.emulatorLabels" -}}
helm.sh/chart: {{ include "snowflake-token-operator.chart" . }}
{{ include "snowflake-token-operator.emulatorSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: snowflake-token-operator
app.kubernetes.io/component: emulator
{{- end }}

{{- define "snowflake-token-operator.emulatorName" -}}
{{- printf "%s-emulator" (include "snowflake-token-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The ServiceAccount the operator runs as.
*/}}
{{- define "snowflake-token-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "snowflake-token-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: repository, then @digest or :tag (default: the appVersion).
*/}}
{{- define "snowflake-token-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Leader election: the Lease's namespace and name.
*/}}
{{- define "snowflake-token-operator.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{- define "snowflake-token-operator.leaseName" -}}
{{- default (include "snowflake-token-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
Fails rendering on combinations that cannot work.
*/}}
{{- define "snowflake-token-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: without a Lease every replica would reconcile the same resources" }}
{{- end }}
{{- end }}
