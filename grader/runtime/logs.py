"""The line of a process log worth showing a person: the last error line, else the last line."""


def tail_line(log: str, limit: int = 300) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or ["(no output)"])[-1][:limit]
