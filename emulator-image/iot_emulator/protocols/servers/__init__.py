"""What a probe meets: the ports a device listens on (`listeners`, `udp_listeners`), the servers answering
from profile data (HTTP/RTSP text, TLS, SNMP, Modbus, S7, DICOM, SIP, ONVIF, printers, Kasa, miIO)."""
