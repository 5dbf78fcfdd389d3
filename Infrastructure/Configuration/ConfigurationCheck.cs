using System.ComponentModel;
using System.Reflection;

namespace Backstop.Infrastructure.Configuration;

/// <summary>
/// Checks every registered options class at once, so an operator sees every bad key in one message instead of
/// fixing them one start at a time: <c>ValidateOnStart</c> stops at the first class that fails, and the binder at
/// the first value it cannot convert.
/// </summary>
internal sealed class ConfigurationCheck
{
    private readonly List<(string Section, Type Type)> entries = [];
    private readonly List<Func<IConfiguration, IEnumerable<string>>> rules = [];
    private readonly List<string> knownKeys = [];
    private readonly List<(string Section, string OldName, string NewName, string? Default)> aliases = [];

    public void Add<T>(string section) where T : class, IValidatedOptions, new() => entries.Add((section, typeof(T)));

    /// <summary>A key of a checked section that no options class binds but code reads directly (<c>Observability:TraceEveryRequest</c>).</summary>
    public void AddKnownKey(string key) => knownKeys.Add(key);

    /// <summary>
    /// An old name of a setting: still read (as <paramref name="newName"/>, unless that is set to something other than
    /// its default <paramref name="defaultValue"/>, as appsettings.json sets it), with a deprecation warning at start.
    /// </summary>
    public void AddAlias(string section, string oldName, string newName, string? defaultValue) => aliases.Add((section, oldName, newName, defaultValue));

    /// <summary>Whether the new name is set to something of its own (not absent, not its default, not the old name's value).</summary>
    internal static bool NewNameSetApart(IConfiguration configuration, string section, string oldName, string newName, string? defaultValue) =>
        configuration[$"{section}:{newName}"] is { } value && value != defaultValue && value != configuration[$"{section}:{oldName}"];

    /// <summary>A rule across sections (a top-level key, a fallback from one section to another).</summary>
    public void AddRule(Func<IConfiguration, IEnumerable<string>> rule) => rules.Add(rule);

    public IReadOnlyList<string> Problems(IConfiguration configuration)
    {
        var problems = new List<string>();
        foreach (var (sectionName, type) in entries)
        {
            var section = configuration.GetSection(sectionName);
            var unconvertible = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
            {
                var target = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
                if (!(target.IsPrimitive || target.IsEnum || target == typeof(TimeSpan) || target == typeof(decimal))) continue;
                var value = section[property.Name];
                if (value is null || TypeDescriptor.GetConverter(target).IsValid(value)) continue;
                problems.Add($"{sectionName}:{property.Name} must be {Describe(target)} (got '{value}').");
                unconvertible.Add(property.Name);
            }

            // Bind what converts, so the rules of the options class still run over the rest; an old name is read as
            // its new one when the new one is not set.
            var convertible = section.AsEnumerable(makePathsRelative: true)
                .Where(kv => kv.Value is not null && !unconvertible.Contains(kv.Key.Split(':')[0]))
                .Where(kv => AliasOf(sectionName, kv.Key.Split(':')[0]) is not { } alias || OldNameWins(configuration, alias))
                .Where(kv => AliasFor(sectionName, kv.Key.Split(':')[0]) is not { } alias || !OldNameWins(configuration, alias))
                .Select(kv => AliasOf(sectionName, kv.Key.Split(':')[0]) is { } alias
                    ? new KeyValuePair<string, string?>(alias.NewName + kv.Key[alias.OldName.Length..], kv.Value)
                    : kv);
            var options = (IValidatedOptions)Activator.CreateInstance(type)!;
            try
            {
                new ConfigurationBuilder().AddInMemoryCollection(convertible).Build().Bind(options);
                problems.AddRange(options.Validate());
            }
            catch (InvalidOperationException e)
            {
                problems.Add($"{sectionName}: {e.Message}");
            }
        }
        problems.AddRange(UnknownKeys(configuration));
        foreach (var (section, oldName, newName, defaultValue) in aliases)
            if (configuration[$"{section}:{oldName}"] is not null && NewNameSetApart(configuration, section, oldName, newName, defaultValue))
                problems.Add($"{section}:{oldName} is the old name of {section}:{newName} and both are set: keep only {section}:{newName}.");
        foreach (var rule in rules) problems.AddRange(rule(configuration));
        return problems;
    }

    /// <summary>
    /// Keys inside a checked section that no options class of the section binds (compared as the binder does,
    /// ignoring case): a misspelt setting would otherwise be silently ignored. Names the closest known key.
    /// Sections' own dictionaries and lists (<c>Jobs:Schedules:&lt;id&gt;</c>) are checked by their options class.
    /// </summary>
    public IEnumerable<string> UnknownKeys(IConfiguration configuration)
    {
        foreach (var sectionName in entries.Select(e => e.Section).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            var known = KnownNames(sectionName);
            foreach (var child in configuration.GetSection(sectionName).GetChildren())
            {
                if (known.Contains(child.Key)) continue;
                var closest = known.MinBy(k => Distance(k.ToLowerInvariant(), child.Key.ToLowerInvariant()));
                yield return closest is not null && Distance(closest.ToLowerInvariant(), child.Key.ToLowerInvariant()) <= Math.Max(2, closest.Length / 3)
                    ? $"{sectionName}:{child.Key} is not a setting; did you mean {sectionName}:{closest}?"
                    : $"{sectionName}:{child.Key} is not a setting; {sectionName}'s settings are {string.Join(", ", known.Order(StringComparer.Ordinal))}.";
            }
        }
    }

    /// <summary>Old names set in the configuration, as sentences for a warning at start.</summary>
    public IReadOnlyList<(string OldKey, string NewKey)> DeprecatedKeys(IConfiguration configuration) =>
        aliases.Where(a => configuration[$"{a.Section}:{a.OldName}"] is not null && !NewNameSetApart(configuration, a.Section, a.OldName, a.NewName, a.Default))
            .Select(a => ($"{a.Section}:{a.OldName}", $"{a.Section}:{a.NewName}")).ToList();

    public void ThrowIfInvalid(IConfiguration configuration)
    {
        var problems = Problems(configuration);
        if (problems.Count > 0) throw new InvalidConfigurationException(problems);
    }

    /// <summary>As <see cref="ThrowIfInvalid(IConfiguration)"/>, after a warning for each old name still in use.</summary>
    public void ThrowIfInvalid(IConfiguration configuration, ILogger log)
    {
        foreach (var (oldKey, newKey) in DeprecatedKeys(configuration))
            log.LogWarning("Setting {OldKey} is deprecated: rename it {NewKey}; until then it is read under the new name", oldKey, newKey);
        ThrowIfInvalid(configuration);
    }

    private (string Section, string OldName, string NewName, string? Default)? AliasOf(string section, string key)
    {
        foreach (var alias in aliases)
            if (string.Equals(alias.Section, section, StringComparison.OrdinalIgnoreCase) && string.Equals(alias.OldName, key, StringComparison.OrdinalIgnoreCase))
                return alias;
        return null;
    }

    /// <summary>The old name is set and the new one is not set apart from it: the old name's value is the setting.</summary>
    private static bool OldNameWins(IConfiguration configuration, (string Section, string OldName, string NewName, string? Default) alias) =>
        configuration[$"{alias.Section}:{alias.OldName}"] is not null
        && !NewNameSetApart(configuration, alias.Section, alias.OldName, alias.NewName, alias.Default);

    /// <summary>The alias whose new name is <paramref name="key"/>.</summary>
    private (string Section, string OldName, string NewName, string? Default)? AliasFor(string section, string key)
    {
        foreach (var alias in aliases)
            if (string.Equals(alias.Section, section, StringComparison.OrdinalIgnoreCase) && string.Equals(alias.NewName, key, StringComparison.OrdinalIgnoreCase))
                return alias;
        return null;
    }

    private HashSet<string> KnownNames(string sectionName)
    {
        var known = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (section, type) in entries.Where(e => string.Equals(e.Section, sectionName, StringComparison.OrdinalIgnoreCase)))
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
                known.Add(property.Name);
        // A checked section inside this one (ApiKeys:Lockout) is a known key of it.
        foreach (var (section, _) in entries.Where(e => e.Section.StartsWith(sectionName + ":", StringComparison.OrdinalIgnoreCase)))
            known.Add(section[(sectionName.Length + 1)..].Split(':')[0]);
        foreach (var key in knownKeys.Where(k => k.StartsWith(sectionName + ":", StringComparison.OrdinalIgnoreCase)))
            known.Add(key[(sectionName.Length + 1)..].Split(':')[0]);
        foreach (var alias in aliases.Where(a => string.Equals(a.Section, sectionName, StringComparison.OrdinalIgnoreCase)))
            known.Add(alias.OldName);
        return known;
    }

    /// <summary>Levenshtein distance: how many single-character edits turn one name into the other.</summary>
    private static int Distance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            previous = current;
        }
        return previous[b.Length];
    }

    private static string Describe(Type type) => type switch
    {
        _ when type == typeof(bool) => "true or false",
        _ when type == typeof(int) || type == typeof(long) => "a whole number",
        _ when type == typeof(TimeSpan) => "a duration (hh:mm:ss)",
        _ when type.IsEnum => "one of " + string.Join(", ", Enum.GetNames(type)),
        _ => "a number",
    };
}
