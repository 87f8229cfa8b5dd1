using System.Globalization;

namespace Occystrap.Formats.Tar;

/// <summary>PAX time records (<c>mtime=1700000000.123456789</c>) and the record names that mirror header fields.</summary>
public static class PaxTime
{
    private static readonly HashSet<string> HeaderFields =
        new(["path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "hdrcharset"], StringComparer.Ordinal);

    /// <summary>True for records that restate a header field; the writer derives those from the entry.</summary>
    public static bool IsHeaderField(string key) => HeaderFields.Contains(key);

    /// <summary>The latest second a tar time may name here (the end of year 9999).</summary>
    public const long MaxSeconds = 253402300799;

    /// <summary>The earliest (the start of year 1).</summary>
    public const long MinSeconds = -62135596800;

    /// <summary>Seconds since the epoch as a time; a value outside years 1 to 9999 is a format error naming the entry.</summary>
    public static DateTimeOffset FromSeconds(long seconds, string entry) =>
        seconds is >= MinSeconds and <= MaxSeconds
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : throw new TarFormatException($"'{entry}' has a modification time of {seconds} seconds, outside the years 1 to 9999");

    public static DateTimeOffset Parse(string text)
    {
        string s = text.Trim();
        bool negative = s.StartsWith('-');
        if (negative) s = s[1..];
        int dot = s.IndexOf('.');
        string whole = dot < 0 ? s : s[..dot];
        string fraction = dot < 0 ? "" : s[(dot + 1)..];
        if (!long.TryParse(whole, NumberStyles.None, CultureInfo.InvariantCulture, out long seconds)
            || (fraction.Length > 0 && !fraction.All(char.IsAsciiDigit)))
            throw new TarFormatException($"invalid PAX time record '{text}'");
        if (seconds > MaxSeconds || (negative && -seconds < MinSeconds))
            throw new TarFormatException($"PAX time record '{text}' is outside the years 1 to 9999");
        long ticks = 0;
        if (fraction.Length > 0)
            ticks = long.Parse(fraction.PadRight(7, '0')[..7], CultureInfo.InvariantCulture);
        long totalTicks = seconds * TimeSpan.TicksPerSecond + ticks;
        if (negative) totalTicks = -totalTicks;
        return DateTimeOffset.UnixEpoch.AddTicks(totalTicks);
    }

    /// <summary>Seconds with up to 7 decimals (100 ns), trailing zeros dropped.</summary>
    public static string Format(DateTimeOffset time)
    {
        long ticks = (time - DateTimeOffset.UnixEpoch).Ticks;
        string sign = ticks < 0 ? "-" : "";
        ticks = Math.Abs(ticks);
        long seconds = ticks / TimeSpan.TicksPerSecond;
        long rest = ticks % TimeSpan.TicksPerSecond;
        if (rest == 0) return sign + seconds.ToString(CultureInfo.InvariantCulture);
        return sign + seconds.ToString(CultureInfo.InvariantCulture) + "." + rest.ToString("D7", CultureInfo.InvariantCulture).TrimEnd('0');
    }

    /// <summary>Whole seconds since the epoch when the time has no fraction, else null.</summary>
    public static long? WholeSeconds(DateTimeOffset time)
    {
        long ticks = (time - DateTimeOffset.UnixEpoch).Ticks;
        return ticks % TimeSpan.TicksPerSecond == 0 ? ticks / TimeSpan.TicksPerSecond : null;
    }
}
